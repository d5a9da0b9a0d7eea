import { mkdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Artifact } from "@mdp/core";
import { loadBundle } from "@mdp/core";
import { build as esbuild } from "esbuild";
import { toEmbeddedSource } from "./embedded-source.ts";
import { writeAtomically } from "./write-atomically.ts";

/** Options of {@link buildModule}. */
export interface BuildModuleOptions {
	/** Model bundle folder (`mdp.json` + `model.onnx`). */
	bundle: string;
	/** Output file, e.g. `dist/penguins.mjs`. */
	out: string;
}

const SRC = dirname(fileURLToPath(import.meta.url));

/**
 * Builds a self-contained ES module for a bundle: feature extractor, predictor and the model bytes in one
 * file (esbuild). An application imports it and predicts in-process; its only dependency is
 * `onnxruntime-node` (a native addon, so it stays outside the file).
 *
 * @example
 * await buildModule({ bundle: "models/churn", out: "vendor/churn.mjs" });
 * // in the application:
 * const { createPredictor } = await import("./vendor/churn.mjs");
 * const predictor = await createPredictor();
 */
export async function buildModule(
	options: BuildModuleOptions,
): Promise<Artifact> {
	const { manifest, modelBytes } = await loadBundle(options.bundle);
	const out = resolve(options.out);
	await mkdir(dirname(out), { recursive: true });
	const entry = `${toEmbeddedSource("bundle", manifest, modelBytes)}
import { createPredictorFromEmbedded } from "./embedded-predictor.ts";
/** The bundle's manifest: features, labels, training facts. */
export const manifest = bundle.manifest;
/** Creates the predictor of the embedded model (onnxruntime-node, in this process). */
export function createPredictor(options) {
  return createPredictorFromEmbedded(bundle, options);
}
`;
	await writeAtomically(out, async (tmp) => {
		await esbuild({
			stdin: {
				contents: entry,
				resolveDir: SRC,
				sourcefile: "embedded-module.ts",
				loader: "ts",
			},
			bundle: true,
			format: "esm",
			platform: "node",
			target: "node20",
			external: ["onnxruntime-node"],
			outfile: tmp,
			legalComments: "none",
			logLevel: "silent",
			banner: {
				js: `// ${manifest.name} ${manifest.version}: built by @mdp/static; needs onnxruntime-node at run time.`,
			},
		});
	});
	return {
		kind: "module",
		path: out,
		bytes: (await stat(out)).size,
		parts: { "model.onnx": modelBytes.byteLength },
	};
}
