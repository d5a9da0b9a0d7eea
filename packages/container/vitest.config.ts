import { defineConfig } from "vitest/config";

export default defineConfig({
	test: {
		// onnxruntime-node reads this when its binding loads; the code sets it too, tests make sure.
		env: { ORT_DISABLE_TELEMETRY: "1" },
		include: ["src/**/*.test.ts", "test/**/*.test.ts"],
		// Builds the test images once per engine and removes everything the run created at the end.
		globalSetup: ["test/global-setup.ts"],
		testTimeout: 120_000,
		hookTimeout: 180_000,
		// Files share two busy cores and the engines: two at a time.
		maxWorkers: 2,
		reporters: ["default", "json"],
		outputFile: { json: ".test-results/vitest.json" },
	},
});
