import { defineConfig } from "vitest/config";

export default defineConfig({
	test: {
		// onnxruntime-node reads this when its binding loads; the code sets it too, tests make sure.
		env: { ORT_DISABLE_TELEMETRY: "1" },
		include: ["src/**/*.test.ts", "test/**/*.test.ts"],
		testTimeout: 60_000,
		hookTimeout: 120_000,
		globalSetup: ["test/global-setup.ts"],
		reporters: ["default", "json"],
		outputFile: { json: ".test-results/vitest.json" },
	},
});
