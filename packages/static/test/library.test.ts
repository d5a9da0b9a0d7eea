import { mkdtemp, readFile, rm, stat, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
	compareToGolden,
	type GoldenCase,
	loadBundle,
	readGoldenSet,
	referenceBundleDir,
} from "@mdp/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toEmbeddedSource } from "../src/embedded-source.ts";
import { penguins } from "../src/generated/penguins.ts";
import {
	buildModule,
	createEmbeddedPredictor,
	createPredictorFromEmbedded,
} from "../src/index.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
let golden: GoldenCase[];
let dir: string;
beforeAll(async () => {
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
	dir = await mkdtemp(join(tmpdir(), "mdp-static-lib-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("createEmbeddedPredictor", () => {
	it("reproduces the golden set exactly, in process, with no path to configure", async () => {
		const predictor = await createEmbeddedPredictor();
		expect(
			compareToGolden(
				golden,
				await predictor.predict(golden.map((g) => g.record)),
			),
		).toEqual([]);
		await predictor.close();
	});

	it("carries exactly the reference bundle (the generated file is current)", async () => {
		const { manifest, modelBytes } = await loadBundle(referenceBundleDir);
		const generated = await readFile(
			join(here, "..", "src", "generated", "penguins.ts"),
			"utf8",
		);
		expect(generated).toBe(toEmbeddedSource("penguins", manifest, modelBytes));
	});

	it("refuses an embedded model that does not match its manifest", async () => {
		const tampered = {
			...penguins,
			modelBase64: Buffer.from("not a model").toString("base64"),
		};
		await expect(createPredictorFromEmbedded(tampered)).rejects.toMatchObject({
			code: "INVALID_BUNDLE",
		});
	});
});

describe("buildModule", () => {
	it("writes one ES module that an application imports to predict, reproducing the golden set", async () => {
		const out = join(dir, "app", "penguins.mjs");
		const artifact = await buildModule({ bundle: referenceBundleDir, out });
		expect(artifact).toMatchObject({ kind: "module", path: out });
		expect((await stat(out)).size).toBe(artifact.bytes);
		// The application has onnxruntime-node installed, nothing else of this repository.
		await symlink(
			join(here, "..", "node_modules"),
			join(dir, "app", "node_modules"),
		);
		const module = (await import(out)) as {
			createPredictor: typeof createEmbeddedPredictor;
			manifest: { name: string };
		};
		expect(module.manifest.name).toBe("penguins");
		const predictor = await module.createPredictor();
		expect(
			compareToGolden(
				golden,
				await predictor.predict(golden.map((g) => g.record)),
			),
		).toEqual([]);
		await predictor.close();
		const source = await readFile(out, "utf8");
		expect(source).not.toMatch(/@mdp\/core|models\/penguins/);
	});

	it("leaves nothing behind when the bundle is bad", async () => {
		const out = join(dir, "bad", "model.mjs");
		await expect(
			buildModule({ bundle: join(dir, "nowhere"), out }),
		).rejects.toMatchObject({ code: "INVALID_BUNDLE" });
		await expect(stat(out)).rejects.toThrow();
	});
});
