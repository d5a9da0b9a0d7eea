import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
	compareToGolden,
	loadBundle,
	loadPredictor,
	readGoldenSet,
	referenceBundleDir,
} from "../src/index.ts";
import {
	parseSize,
	synthesizeBundle,
	trainPenguins,
} from "../src/training/index.ts";

let dir: string;
beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), "mdp-train-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const files = ["golden.jsonl", "mdp.json", "model.onnx"];

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
	it("writes a valid bundle of about the requested size that reproduces its own golden set", async () => {
		const out = join(dir, "synth");
		const { bytes } = await synthesizeBundle({
			out,
			sizeBytes: parseSize("2MB"),
			from: referenceBundleDir,
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
