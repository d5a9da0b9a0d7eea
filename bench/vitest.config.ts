import { defineConfig } from "vitest/config";

export default defineConfig({
	test: {
		env: { ORT_DISABLE_TELEMETRY: "1" },
		include: ["src/**/*.test.ts", "test/**/*.test.ts"],
		testTimeout: 60_000,
		reporters: ["default", "json"],
		outputFile: { json: ".test-results/vitest.json" },
	},
});
