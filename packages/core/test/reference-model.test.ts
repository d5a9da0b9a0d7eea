import { existsSync, readdirSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
	compareToGolden,
	type GoldenCase,
	loadBundle,
	loadOnnxModel,
	loadPredictor,
	type Predictor,
	readGoldenSet,
	referenceBundleDir,
	sha256Hex,
} from "../src/index.ts";
import { readPenguinsData, splitPenguins } from "../src/training/index.ts";

let predictor: Predictor;
let golden: GoldenCase[];
beforeAll(async () => {
	predictor = await loadPredictor(referenceBundleDir);
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
});
afterAll(() => predictor.close());

describe("the reference penguins bundle on onnxruntime-node", () => {
	it("has at least 50 golden cases, some with missing values", () => {
		expect(golden.length).toBeGreaterThanOrEqual(50);
		const withMissing = golden.filter((g) =>
			Object.values(g.record).some((v) => v === null || v === "."),
		);
		expect(withMissing.length).toBeGreaterThanOrEqual(5);
	});

	it("reproduces golden.jsonl bit for bit as one batch", async () => {
		expect(
			compareToGolden(
				golden,
				await predictor.predict(golden.map((g) => g.record)),
			),
		).toEqual([]);
	});

	it("reproduces golden.jsonl bit for bit one record at a time", async () => {
		const one = await Promise.all(
			golden.map(async (g) => (await predictor.predict([g.record]))[0]),
		);
		expect(compareToGolden(golden, one)).toEqual([]);
	});

	it("classifies the held-out test rows with at least 95% accuracy, as mdp.json records", async () => {
		const { manifest } = await loadBundle(referenceBundleDir);
		const data = await readPenguinsData();
		// The data the bundle says it was trained on, split again with its seed.
		expect(sha256Hex(data)).toBe(manifest.training.dataFingerprint);
		const { testRows } = splitPenguins(data, manifest.training.seed);
		expect(testRows.length).toBe(manifest.training.rows.test);
		const predicted = await predictor.predict(
			testRows.map(({ Species: _species, ...record }) => record),
		);
		const correct = predicted.filter(
			(p, i) => p.label === testRows[i]?.Species,
		).length;
		const accuracy = correct / testRows.length;
		expect(accuracy).toBeGreaterThanOrEqual(0.95);
		expect(manifest.training.metrics.testAccuracy).toBe(accuracy);
	});

	it("refuses a graph whose input name differs from the manifest", async () => {
		const { modelBytes } = await loadBundle(referenceBundleDir);
		await expect(
			loadOnnxModel(modelBytes, {
				inputName: "x",
				outputName: "probabilities",
				columns: 9,
			}),
		).rejects.toMatchObject({
			code: "MODEL_LOAD_FAILED",
			message: expect.stringContaining('expected input "x"'),
		});
	});

	it("refuses bytes that are not an ONNX model", async () => {
		await expect(
			loadOnnxModel(new Uint8Array([1, 2, 3]), {
				inputName: "features",
				outputName: "probabilities",
				columns: 9,
			}),
		).rejects.toMatchObject({
			code: "MODEL_LOAD_FAILED",
		});
	});

	it("runs with telemetry off: no telemetry files written", () => {
		expect(process.env.ORT_DISABLE_TELEMETRY).toBe("1");
		expect(
			existsSync(
				join(
					homedir(),
					".cache",
					"Microsoft",
					"DeveloperTools",
					".onnxruntime",
				),
			),
		).toBe(false);
		expect(
			readdirSync(tmpdir()).filter((f) =>
				f.startsWith(`mat-debug-${process.pid}`),
			),
		).toEqual([]);
	});
});
