import type { Artifact } from "@mdp/core";
import { loadBundle, loadOnnxModel } from "@mdp/core";
import { toStat } from "./summarize.ts";
import { serve } from "./targets/http.ts";
import type { BenchTarget } from "./types.ts";

/**
 * One round of the inference ceiling: the model alone, run on a prepared batch through the native
 * onnxruntime session (`loadOnnxModel`'s direct path, the fastest way to run it from Node), with no
 * extraction and no HTTP.
 */
export async function measureInferenceCeiling(
	bundle: string,
	iterations: number,
) {
	const { manifest, modelBytes } = await loadBundle(bundle);
	const columns = manifest.model.input.columns;
	const model = await loadOnnxModel(modelBytes, {
		inputName: manifest.model.input.name,
		outputName: manifest.model.output.name,
		columns,
	});
	const batchOf = (rows: number) => ({
		data: new Float32Array(rows * columns),
		rows,
		columns,
	});
	/**
	 * Latency from one call at a time; throughput from 32 calls in flight, as the targets' saturation runs
	 * have.
	 */
	const time = async (rows: number) => {
		const input = batchOf(rows);
		for (let i = 0; i < 200; i++) await model.run(input);
		const times = new Float64Array(iterations);
		for (let i = 0; i < iterations; i++) {
			const t = performance.now();
			await model.run(input);
			times[i] = (performance.now() - t) * 1000;
		}
		times.sort();
		let left = iterations;
		const start = performance.now();
		await Promise.all(
			Array.from({ length: 32 }, async () => {
				while (left-- > 0) await model.run(input);
			}),
		);
		const seconds = (performance.now() - start) / 1000;
		return {
			runs_per_s: iterations / seconds,
			p50_us: times[Math.floor(iterations / 2)] as number,
			p99_us: times[Math.floor(iterations * 0.99)] as number,
		};
	};
	try {
		return { batch1: await time(1), batch32: await time(32) };
	} finally {
		await model.close();
	}
}

/** Folds rounds of the inference ceiling into medians. */
export function summarizeInferenceCeiling(
	rounds: Awaited<ReturnType<typeof measureInferenceCeiling>>[],
) {
	return {
		batch1: {
			runs_per_s: toStat(rounds.map((r) => r.batch1.runs_per_s)),
			p50_us: toStat(rounds.map((r) => r.batch1.p50_us)),
			p99_us: toStat(rounds.map((r) => r.batch1.p99_us)),
		},
		batch32: {
			runs_per_s: toStat(rounds.map((r) => r.batch32.runs_per_s)),
			rows_per_s: toStat(rounds.map((r) => r.batch32.runs_per_s * 32)),
			p50_us: toStat(rounds.map((r) => r.batch32.p50_us)),
		},
	};
}

/** The HTTP ceiling as a target: `mdp-core serve --bare`, same framework, server and core, no model. */
export function createHttpCeilingTarget(): BenchTarget {
	const none = () => Promise.reject(new Error("not measured for the ceiling"));
	return {
		id: "ceiling.http",
		pattern: "http",
		title: "ceiling: bare Hono app (constant JSON)",
		build: async (): Promise<Artifact[]> => [],
		async deploy(ctx) {
			const server = await serve(ctx, ["--bare"]);
			return {
				endpoint: { kind: "http", url: server.url },
				pids: () => [server.pid],
				teardown: async () => void (await server.stop()),
			};
		},
		coldStart: none,
		offline: none,
	};
}
