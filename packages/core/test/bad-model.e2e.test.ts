import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
	compareToGolden,
	type GoldenCase,
	loadBundle,
	ModelHost,
	readGoldenSet,
	referenceBundleDir,
	writeBundle,
} from "../src/index.ts";
import { startServeDeployment } from "../src/process/index.ts";

// Bundles whose manifest and hash are in order but whose model cannot serve: the hash vouches for the
// bytes, not for the model, so the load and the warm-up are what must refuse them.
let dir: string;
let golden: GoldenCase[];
let garbage: string;
let wrongShape: string;
beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), "mdp-bad-model-"));
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
	const { manifest } = await loadBundle(referenceBundleDir);
	// Not an ONNX model at all, hashed correctly.
	garbage = join(dir, "garbage", "penguins");
	await writeBundle(garbage, {
		manifest: { ...manifest, version: "2.0.0-garbage" },
		modelBytes: new TextEncoder().encode("this is not an onnx graph"),
	});
	// A valid ONNX graph whose input name is not the one the manifest declares: loads, cannot run.
	const synth = join(dir, "other", "penguins");
	const { toOnnxBytes, createRandomMlp, createRandom } = await import(
		"../src/training/index.ts"
	);
	const mlp = createRandomMlp(
		[manifest.model.input.columns, 4, manifest.target.labels.length],
		createRandom(1),
	);
	wrongShape = synth;
	await writeBundle(synth, {
		manifest: { ...manifest, version: "2.0.0-wrong-input" },
		modelBytes: toOnnxBytes(mlp, {
			graphName: "wrong",
			inputName: "not_features",
			outputName: manifest.model.output.name,
			producerVersion: "0",
		}),
	});
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("a bundle whose hash matches but whose model cannot serve", () => {
	it("is refused by the model host, which keeps serving the old model", async () => {
		const host = new ModelHost();
		try {
			await host.load(referenceBundleDir);
			for (const bad of [garbage, wrongShape]) {
				await expect(host.load(bad)).rejects.toThrow();
				const model = host.resolve("penguins");
				if (!model) throw new Error("the old model is gone");
				expect(model.version).toBe("1.0.0");
				const predictions = await host.use(model, (p) =>
					p.predict(golden.map((g) => g.record)),
				);
				expect(compareToGolden(golden, predictions)).toEqual([]);
			}
		} finally {
			await host.close();
		}
	});

	it("is refused over the repository API with a 4xx naming it, and the server keeps serving the old model", async () => {
		const deployment = await startServeDeployment({
			bundle: referenceBundleDir,
		});
		try {
			for (const bad of [garbage, wrongShape]) {
				await expect(deployment.updateModel?.(bad)).rejects.toThrow(/40\d/);
				const res = await fetch(`${deployment.url}/predict`, {
					method: "POST",
					body: JSON.stringify({ records: golden.map((g) => g.record) }),
				});
				const body = (await res.json()) as {
					model: { version: string };
					predictions: never[];
				};
				expect([res.status, body.model.version]).toEqual([200, "1.0.0"]);
				expect(compareToGolden(golden, body.predictions)).toEqual([]);
			}
		} finally {
			await deployment.stop();
		}
	});
});
