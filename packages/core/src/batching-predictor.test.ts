import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBatchingPredictor } from "./batching-predictor.ts";
import { compareToGolden, type GoldenCase, readGoldenSet } from "./golden.ts";
import { loadBundle, type ModelBundle } from "./load-bundle.ts";
import { loadOnnxModel, type Model } from "./load-onnx-model.ts";
import { referenceBundleDir } from "./reference-bundle.ts";

let bundle: ModelBundle;
let golden: GoldenCase[];
const models: Model[] = [];
beforeAll(async () => {
	bundle = await loadBundle(referenceBundleDir);
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
});
afterAll(async () => {
	for (const m of models) await m.close();
});

async function batching(maxBatchRows: number, maxDelayMs = 0) {
	const { manifest } = bundle;
	const model = await loadOnnxModel(bundle.modelBytes, {
		inputName: "features",
		outputName: "probabilities",
		columns: manifest.model.input.columns,
	});
	models.push(model);
	const batches: { rows: number; requests: number }[] = [];
	const predictor = createBatchingPredictor({
		manifest,
		model,
		maxBatchRows,
		maxDelayMs,
		onBatch: (rows, requests) => batches.push({ rows, requests }),
	});
	return { predictor, batches };
}

describe("createBatchingPredictor", () => {
	it("merges concurrent single-record requests and returns exactly the unbatched results", async () => {
		const { predictor, batches } = await batching(32);
		const results = await Promise.all(
			golden.map(async (g) => (await predictor.predict([g.record]))[0]),
		);
		expect(compareToGolden(golden, results)).toEqual([]);
		expect(batches.length).toBeLessThan(golden.length);
		expect(Math.max(...batches.map((b) => b.rows))).toBeGreaterThan(1);
		expect(Math.max(...batches.map((b) => b.rows))).toBeLessThanOrEqual(32);
		expect(batches.reduce((n, b) => n + b.requests, 0)).toBe(golden.length);
	});

	it("runs requests that arrive in one event-loop turn as one batch, the first one included", async () => {
		const { predictor, batches } = await batching(32);
		const six = golden.slice(0, 6);
		const results = await Promise.all(
			six.map(async (g) => (await predictor.predict([g.record]))[0]),
		);
		expect(compareToGolden(six, results)).toEqual([]);
		expect(batches).toEqual([{ rows: 6, requests: 6 }]);
	});

	it("counts the limit in rows and splits multi-record requests back exactly", async () => {
		const { predictor, batches } = await batching(10);
		const chunks = [
			golden.slice(0, 4),
			golden.slice(4, 9),
			golden.slice(9, 12),
			golden.slice(12, 30),
		];
		const results = await Promise.all(
			chunks.map((c) => predictor.predict(c.map((g) => g.record))),
		);
		expect(compareToGolden(golden.slice(0, 30), results.flat())).toEqual([]);
		// A request larger than the limit runs alone; the others never push a batch past 10 rows.
		for (const b of batches)
			expect(b.rows <= 10 || b.requests === 1).toBe(true);
		expect(batches.find((b) => b.rows === 18)?.requests).toBe(1);
	});

	it("fails only the bad request among concurrent good ones", async () => {
		const { predictor } = await batching(64);
		const results = await Promise.allSettled([
			predictor.predict([golden[0]?.record]),
			predictor.predict([{ ...golden[1]?.record, Island: "Atlantis" }]),
			predictor.predict([golden[2]?.record]),
		]);
		expect(results.map((r) => r.status)).toEqual([
			"fulfilled",
			"rejected",
			"fulfilled",
		]);
		expect((results[1] as PromiseRejectedResult).reason).toMatchObject({
			code: "INVALID_INPUT",
		});
		expect((results[2] as PromiseFulfilledResult<unknown[]>).value).toEqual([
			golden[2]?.expected,
		]);
	});

	it("with a delay, waits to fill a batch and reports the wait as queue time", async () => {
		const { predictor, batches } = await batching(4, 30);
		const timings = { queueMs: 0, featuresMs: 0, inferenceMs: 0 };
		const first = predictor.predict([golden[0]?.record], timings);
		await new Promise((r) => setTimeout(r, 5));
		await Promise.all([
			first,
			predictor.predict([golden[1]?.record]),
			predictor.predict([golden[2]?.record]),
		]);
		expect(batches).toEqual([{ rows: 3, requests: 3 }]);
		expect(timings.queueMs).toBeGreaterThanOrEqual(20);
	});

	it("runs at once when the batch is full, without waiting for the delay", async () => {
		const { predictor, batches } = await batching(2, 10_000);
		const started = performance.now();
		await Promise.all([
			predictor.predict([golden[0]?.record]),
			predictor.predict([golden[1]?.record]),
		]);
		expect(performance.now() - started).toBeLessThan(5_000);
		expect(batches).toEqual([{ rows: 2, requests: 2 }]);
	});
});

describe("a model result of the wrong shape (issue 14, defect 6)", () => {
	it("is refused for every request of the batch, never split misaligned", async () => {
		const { manifest } = bundle;
		let runs = 0;
		const predictor = createBatchingPredictor({
			manifest,
			// One value too few for the rows it was given: the rows would shift if it were split.
			model: {
				async run(batch) {
					runs++;
					return new Float32Array(batch.rows * 3 - 1).fill(0.25);
				},
				async close() {},
			},
			maxBatchRows: 64,
			maxDelayMs: 20,
		});
		const results = await Promise.allSettled(
			golden.slice(0, 5).map((g) => predictor.predict([g.record, g.record])),
		);
		expect(runs).toBe(1);
		expect(results.map((r) => r.status)).toEqual(results.map(() => "rejected"));
		expect((results[0] as PromiseRejectedResult).reason).toMatchObject({
			code: "INFERENCE_FAILED",
			message: "the model returned 29 values for 10 rows × 3 labels",
		});
		await predictor.close();
	});
});

describe("a model whose run throws instead of rejecting", () => {
	it("fails that batch only: the next request runs (the predictor is not left busy forever)", async () => {
		const { manifest } = bundle;
		const real = await loadOnnxModel(bundle.modelBytes, {
			inputName: "features",
			outputName: "probabilities",
			columns: manifest.model.input.columns,
		});
		models.push(real);
		let calls = 0;
		const predictor = createBatchingPredictor({
			manifest,
			model: {
				// Not async: the first call throws synchronously, as a native binding can.
				run(batch) {
					if (++calls === 1) throw new Error("tensor refused");
					return real.run(batch);
				},
				async close() {},
			},
			maxBatchRows: 32,
		});
		const [g] = golden as [GoldenCase];
		await expect(predictor.predict([g.record])).rejects.toMatchObject({
			code: "INFERENCE_FAILED",
		});
		const [prediction] = await predictor.predict([g.record]);
		expect(compareToGolden([g], [prediction], 1e-6)).toEqual([]);
	});
});
