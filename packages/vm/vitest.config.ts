import { defineConfig } from "vitest/config";

export default defineConfig({
	test: {
		// onnxruntime-node reads this when its binding loads; the code sets it too, tests make sure.
		env: { ORT_DISABLE_TELEMETRY: "1" },
		include: ["src/**/*.test.ts", "test/**/*.test.ts"],
		// Each file runs whole fleets (processes, HAProxy): one file at a time keeps the fault timings
		// (out of the pool within 2 s) meaningful on a 2-core machine.
		fileParallelism: false,
		testTimeout: 120_000,
		hookTimeout: 240_000,
		reporters: ["default", "json"],
		outputFile: { json: ".test-results/vitest.json" },
	},
});
