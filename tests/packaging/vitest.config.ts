import { defineConfig } from "vitest/config";

export default defineConfig({
	test: {
		env: { ORT_DISABLE_TELEMETRY: "1" },
		include: ["test/**/*.test.ts"],
		// Building, packing and an npm install from the registry take minutes, not seconds.
		testTimeout: 600_000,
		hookTimeout: 600_000,
		reporters: ["default", "json"],
		outputFile: { json: ".test-results/vitest.json" },
	},
});
