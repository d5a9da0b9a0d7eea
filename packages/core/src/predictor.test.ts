import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseBundleManifest } from "./bundle-manifest.ts";
import { CoreError } from "./errors.ts";
import type { FeatureBatch } from "./extract-features.ts";
import type { Model } from "./load-onnx-model.ts";
import { createPredictor, toPredictions } from "./predictor.ts";
import { referenceBundleDir } from "./reference-bundle.ts";

const manifest = parseBundleManifest(
	JSON.parse(readFileSync(join(referenceBundleDir, "mdp.json"), "utf8")),
);
const record = {
	Island: "Dream",
	"Beak Length (mm)": 46.5,
	"Beak Depth (mm)": 17.9,
	"Flipper Length (mm)": 192,
	"Body Mass (g)": 3500,
	Sex: "FEMALE",
};

/** A fake model that records its inputs and answers with a fixed distribution per row. */
function fakeModel(
	row: number[],
): Model & { batches: FeatureBatch[]; closed: boolean } {
	const fake = {
		batches: [] as FeatureBatch[],
		closed: false,
		async run(batch: FeatureBatch) {
			fake.batches.push(batch);
			return Float32Array.from(
				{ length: batch.rows * row.length },
				(_, i) => row[i % row.length] as number,
			);
		},
		async close() {
			fake.closed = true;
		},
	};
	return fake;
}

describe("createPredictor", () => {
	it("extracts features, runs the model once per batch and labels each row", async () => {
		const model = fakeModel([0.1, 0.7, 0.2]);
		const predictor = createPredictor({ manifest, model });
		const predictions = await predictor.predict([
			record,
			{ ...record, Island: "Biscoe" },
		]);
		expect(model.batches).toHaveLength(1);
		expect(model.batches[0]).toMatchObject({ rows: 2, columns: 9 });
		expect(predictions).toEqual([
			{
				label: "Chinstrap",
				probabilities: {
					Adelie: Math.fround(0.1),
					Chinstrap: Math.fround(0.7),
					Gentoo: Math.fround(0.2),
				},
			},
			{
				label: "Chinstrap",
				probabilities: {
					Adelie: Math.fround(0.1),
					Chinstrap: Math.fround(0.7),
					Gentoo: Math.fround(0.2),
				},
			},
		]);
	});

	it("rejects bad records before the model runs", async () => {
		const model = fakeModel([1, 0, 0]);
		const predictor = createPredictor({ manifest, model });
		await expect(
			predictor.predict([record, { ...record, Island: "Atlantis" }]),
		).rejects.toMatchObject({
			code: "INVALID_INPUT",
			issues: [{ record: 1, field: "Island" }],
		});
		expect(model.batches).toHaveLength(0);
	});

	it("does not run the model for an empty request", async () => {
		const model = fakeModel([1, 0, 0]);
		expect(await createPredictor({ manifest, model }).predict([])).toEqual([]);
		expect(model.batches).toHaveLength(0);
	});

	it("reports where the time went when asked", async () => {
		const timings = { queueMs: -1, featuresMs: -1, inferenceMs: -1 };
		await createPredictor({ manifest, model: fakeModel([1, 0, 0]) }).predict(
			[record],
			timings,
		);
		expect(timings.queueMs).toBe(0);
		expect(timings.featuresMs).toBeGreaterThanOrEqual(0);
		expect(timings.inferenceMs).toBeGreaterThanOrEqual(0);
	});

	it("turns a model failure into INFERENCE_FAILED", async () => {
		const model: Model = {
			run: async () => {
				throw new Error("boom");
			},
			close: async () => {},
		};
		await expect(
			createPredictor({ manifest, model }).predict([record]),
		).rejects.toMatchObject({
			code: "INFERENCE_FAILED",
			message: "boom",
		});
	});

	it("turns a model that throws instead of rejecting into INFERENCE_FAILED, without crashing", async () => {
		const model: Model = {
			run: () => {
				throw new Error("thrown");
			},
			close: async () => {},
		};
		await expect(
			createPredictor({ manifest, model }).predict([record]),
		).rejects.toMatchObject({ code: "INFERENCE_FAILED", message: "thrown" });
	});

	it("runs the model after predict returns, each run in its own event-loop turn", async () => {
		const fake = fakeModel([0.2, 0.3, 0.5]);
		const order: string[] = [];
		const model: Model = {
			run: (batch) => {
				order.push("run");
				return fake.run(batch);
			},
			close: fake.close,
		};
		const predictor = createPredictor({ manifest, model });
		const runs = [1, 2, 3].map((i) =>
			predictor.predict([record]).then(() => order.push(`result ${i}`)),
		);
		// Started in one turn: nothing has run yet when the calls return.
		expect(order).toEqual([]);
		await Promise.all(runs);
		// Each result is delivered before the next run starts, not all at the end of the burst.
		expect(order).toEqual([
			"run",
			"result 1",
			"run",
			"result 2",
			"run",
			"result 3",
		]);
	});

	it("closes its model", async () => {
		const model = fakeModel([1, 0, 0]);
		await createPredictor({ manifest, model }).close();
		expect(model.closed).toBe(true);
	});
});

describe("toPredictions", () => {
	it("picks the first label on a tie", () => {
		expect(
			toPredictions(new Float32Array([0.5, 0.5]), 1, ["a", "b"])[0]?.label,
		).toBe("a");
	});

	it("refuses an output of the wrong size", () => {
		expect(() =>
			toPredictions(new Float32Array(5), 2, ["a", "b", "c"]),
		).toThrow(CoreError);
	});
});

describe("non-finite probabilities (issue 14, defect 3)", () => {
	it("are never returned: a 400-class error names the record", () => {
		expect(() =>
			toPredictions(
				new Float32Array([0.2, 0.3, 0.5, Number.NaN, 0.5, 0.5]),
				2,
				["a", "b", "c"],
			),
		).toThrow(
			expect.objectContaining({
				code: "INVALID_INPUT",
				message: expect.stringMatching(
					/^record 1: the model gave no finite probabilities/,
				),
			}),
		);
		expect(() =>
			toPredictions(new Float32Array([Number.POSITIVE_INFINITY, 0]), 1, [
				"a",
				"b",
			]),
		).toThrow(/record 0/);
	});
});
