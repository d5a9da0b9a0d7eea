import { copyFile, mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { type Artifact, loadBundle, moduleFile } from "@mdp/core";
import { build as esbuild } from "esbuild";
import { toPageHtml } from "./web/page.ts";
import { writeAtomically } from "./write-atomically.ts";

/** Options of {@link buildWebPage}. */
export interface BuildWebPageOptions {
	/** Model bundle folder. */
	bundle: string;
	/** Output folder (replaced whole). */
	out: string;
	/** Page title; defaults to one built from the model's target. */
	title?: string;
	onProgress?: (step: string) => void;
}

const APP = moduleFile(import.meta.url, "./web/app");
/** The single-threaded SIMD build of onnxruntime-web; the page sets `numThreads = 1`. */
const WASM = "ort-wasm-simd-threaded.wasm";

/**
 * Builds a static page that predicts in the browser: `index.html`, `app.js` (feature extractor, predictor
 * and onnxruntime-web, bundled by esbuild), the wasm runtime, `model.onnx` and `mdp.json`. Serve the folder
 * with any static file server; after load the page makes no network request.
 */
export async function buildWebPage(
	options: BuildWebPageOptions,
): Promise<Artifact> {
	const progress = options.onProgress ?? (() => {});
	const { manifest, modelBytes } = await loadBundle(options.bundle);
	const out = resolve(options.out);
	await mkdir(dirname(out), { recursive: true });
	const wasm = join(
		dirname(createRequire(import.meta.url).resolve("onnxruntime-web")),
		WASM,
	);
	await writeAtomically(out, async (dir) => {
		await mkdir(dir);
		progress("bundling app.js with esbuild");
		await esbuild({
			entryPoints: [APP],
			bundle: true,
			format: "esm",
			platform: "browser",
			target: "es2022",
			minify: true,
			outfile: join(dir, "app.js"),
			// @mdp/core's Node-only modules are unused here (the package is side-effect free); a test checks app.js names none of them.
			external: ["node:*", "onnxruntime-node"],
			legalComments: "none",
			logLevel: "silent",
		});
		await copyFile(wasm, join(dir, WASM));
		await writeFile(join(dir, "model.onnx"), modelBytes);
		await writeFile(join(dir, "mdp.json"), JSON.stringify(manifest));
		const title =
			options.title ??
			`${manifest.target.name} prediction: ${manifest.name} ${manifest.version}`;
		await writeFile(join(dir, "index.html"), toPageHtml(title));
	});
	const parts: Record<string, number> = {};
	let bytes = 0;
	for (const file of await readdir(out)) {
		parts[file] = (await stat(join(out, file))).size;
		bytes += parts[file];
	}
	progress(`wrote ${out}`);
	return { kind: "web-page", path: out, bytes, parts };
}
