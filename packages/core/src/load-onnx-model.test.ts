import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadBundle, type ModelBundle } from "./load-bundle.ts";
import { loadOnnxModel, type OnnxModel } from "./load-onnx-model.ts";
import { referenceBundleDir } from "./reference-bundle.ts";

let bundle: ModelBundle;
const opened: OnnxModel[] = [];
const open = async (direct: boolean) => {
	const { manifest, modelBytes } = bundle;
	const model = await loadOnnxModel(modelBytes, {
		inputName: manifest.model.input.name,
		outputName: manifest.model.output.name,
		columns: manifest.model.input.columns,
		direct,
	});
	opened.push(model);
	return model;
};
beforeAll(async () => {
	bundle = await loadBundle(referenceBundleDir);
});
afterAll(async () => {
	for (const m of opened) await m.close();
});

/** Rows of varied feature values (standardised features are small numbers around 0). */
function rows(n: number, columns: number): Float32Array {
	const data = new Float32Array(n * columns);
	for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 1.7) * 2;
	return data;
}

describe("loadOnnxModel", () => {
	it("calls the native session directly with the pinned onnxruntime-node (the fast path is not lost silently)", async () => {
		expect((await open(true)).direct).toBe(true);
		expect((await open(false)).direct).toBe(false);
	});

	it("gives bit-identical outputs on both paths, for 1 and 37 rows", async () => {
		const columns = bundle.manifest.model.input.columns;
		const direct = await open(true);
		const wrapped = await open(false);
		for (const n of [1, 37]) {
			const batch = { data: rows(n, columns), rows: n, columns };
			const a = await direct.run(batch);
			const b = await wrapped.run(batch);
			expect(a.length).toBe(n * bundle.manifest.target.labels.length);
			expect(Array.from(a)).toEqual(Array.from(b));
		}
	});

	it.each([true, false])(
		"direct=%s: a bad batch rejects the promise, it never throws from run",
		async (direct) => {
			const model = await open(direct);
			/** The promise of a run, after checking that starting it threw nothing. */
			const started = (batch: Parameters<OnnxModel["run"]>[0]) => {
				let run: Promise<Float32Array> | undefined;
				expect(() => {
					run = model.run(batch);
				}).not.toThrow();
				return run as Promise<Float32Array>;
			};
			// The graph's input is [N, 9]: onnxruntime refuses 5 columns.
			await expect(
				started({ data: rows(1, 5), rows: 1, columns: 5 }),
			).rejects.toThrow(/dimension|dims|shape/i);
			// Fewer values than rows × columns: the tensor itself is refused.
			await expect(
				started({ data: new Float32Array(3), rows: 1, columns: 9 }),
			).rejects.toThrow(/size|length|match/i);
			// The model still runs afterwards.
			const ok = await model.run({ data: rows(1, 9), rows: 1, columns: 9 });
			expect(ok.length).toBe(3);
		},
	);

	it("refuses a run after close, and a second close is harmless", async () => {
		const model = await open(true);
		await model.close();
		await model.close();
		await expect(
			model.run({ data: rows(1, 9), rows: 1, columns: 9 }),
		).rejects.toThrow(/released/);
	});
});
