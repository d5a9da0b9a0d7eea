import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
	compareToGolden,
	extractFeatures,
	loadBundle,
	loadPredictor,
	readGoldenSet,
	referenceBundleDir,
} from "../src/index.ts";
import {
	createRandom,
	createRandomMlp,
	parseSize,
	synthesizeBundle,
	trainPenguins,
} from "../src/training/index.ts";

let dir: string;
beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), "mdp-train-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const files = ["bundle.sha256", "golden.jsonl", "mdp.json", "model.onnx"];

describe("trainPenguins", () => {
	it("is deterministic: two runs write byte-identical bundles, identical to the committed one", async () => {
		const first = await trainPenguins({ out: join(dir, "a") });
		await trainPenguins({ out: join(dir, "b") });
		expect(first.testAccuracy).toBeGreaterThanOrEqual(0.95);
		for (const file of files) {
			const committed = await readFile(join(referenceBundleDir, file));
			expect(await readFile(join(dir, "a", file)), file).toEqual(committed);
			expect(await readFile(join(dir, "b", file)), file).toEqual(committed);
		}
		expect((await readdir(dir)).sort()).toEqual(["a", "b"]); // no staging folders left behind
	});

	it("replaces an existing bundle whole", async () => {
		await trainPenguins({ out: join(dir, "a"), seed: 7 });
		const { manifest } = await loadBundle(join(dir, "a"));
		expect(manifest.training.seed).toBe(7);
		expect(manifest.training.metrics.testAccuracy).toBeGreaterThanOrEqual(0.9);
	});
});

describe("synthesizeBundle", () => {
	it("writes a valid bundle of about the requested size whose golden set matches the MLP it describes", async () => {
		const out = join(dir, "synth");
		const { bytes, hidden } = await synthesizeBundle({
			out,
			sizeBytes: parseSize("2MB"),
			from: referenceBundleDir,
			seed: 3,
		});
		expect(Math.abs(bytes - 2e6) / 2e6).toBeLessThan(0.02);
		expect((await stat(join(out, "model.onnx"))).size).toBe(bytes);
		const predictor = await loadPredictor(out);
		const golden = await readGoldenSet(join(out, "golden.jsonl"));
		expect(golden.length).toBeGreaterThanOrEqual(50);
		expect(
			compareToGolden(
				golden,
				await predictor.predict(golden.map((g) => g.record)),
			),
		).toEqual([]);
		expect(predictor.manifest.features).toEqual(
			(await loadBundle(referenceBundleDir)).manifest.features,
		);
		await predictor.close();
		// Independently of onnxruntime: the same random MLP evaluated in float64 here gives the golden
		// set's labels and probabilities (to float32 precision), so the export and the golden set agree.
		const { manifest } = await loadBundle(out);
		const classes = manifest.target.labels.length;
		const columns = manifest.model.input.columns;
		const mlp = createRandomMlp(
			[columns, hidden, hidden, classes],
			createRandom(3),
		);
		const x = extractFeatures(
			golden.map((g) => g.record),
			manifest.features,
		);
		for (const [row, g] of golden.entries()) {
			let activations = Array.from(
				x.data.subarray(row * columns, (row + 1) * columns),
			);
			for (const [l, layer] of mlp.layers.entries()) {
				const next = Array.from(layer.bias, Number);
				for (let i = 0; i < layer.inputs; i++)
					for (let o = 0; o < layer.outputs; o++)
						next[o] =
							(next[o] as number) +
							(activations[i] as number) *
								(layer.weights[i * layer.outputs + o] as number);
				activations =
					l + 1 < mlp.layers.length ? next.map((v) => Math.max(0, v)) : next;
			}
			const top = Math.max(...activations);
			const exp = activations.map((v) => Math.exp(v - top));
			const sum = exp.reduce((a, b) => a + b, 0);
			const probabilities = exp.map((v) => v / sum);
			const expected = g.expected as {
				label: string;
				probabilities: Record<string, number>;
			};
			expect(expected.label).toBe(
				manifest.target.labels[
					probabilities.indexOf(Math.max(...probabilities))
				],
			);
			for (const [k, label] of manifest.target.labels.entries())
				expect(expected.probabilities[label]).toBeCloseTo(
					probabilities[k] as number,
					4,
				);
		}
	});
});

describe("parseSize", () => {
	it.each([
		["50MB", 50e6],
		["1.5GiB", 1.5 * 2 ** 30],
		["800kb", 800e3],
		["1234", 1234],
	])("%s → %d bytes", (text, bytes) => {
		expect(parseSize(text)).toBe(bytes);
	});

	it("refuses a size it cannot read", () => {
		expect(() => parseSize("lots")).toThrow(
			/size "lots" is not a number with a unit/,
		);
		expect(() => parseSize("5 parsecs")).toThrow(/is not a number/);
	});
});
