import {
	cp,
	mkdir,
	readdir,
	rename,
	rm,
	stat,
	writeFile,
} from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { build } from "esbuild";
import type { Artifact } from "../artifact.ts";
import { moduleFile } from "../module-file.ts";
import {
	installOnnxRuntime,
	locateOnnxRuntime,
	type RuntimePlatform,
} from "./install-onnx-runtime.ts";

/** Options of {@link buildServer}. */
export interface BuildServerOptions {
	/** Output folder, replaced whole (written to a staging folder first: a failed build leaves nothing). */
	out: string;
	/**
	 * The module to bundle. Default: the server runtime (`mdp-serve`: argument parsing, the HTTP app, the
	 * model host; no training code). Another entry (a Lambda handler, a functions-framework entry) is
	 * bundled the same way, with onnxruntime-node kept outside.
	 */
	entry?: string;
	/** File name of the bundle in `out`. Default `mdp-serve.mjs`. */
	outFile?: string;
	/** A model bundle to copy into `<out>/model`, the folder the server runtime serves by default. */
	bundle?: string;
	/**
	 * Install onnxruntime-node pruned to this platform into `<out>/node_modules` (default linux-x64);
	 * `false` writes only the bundle and a `package.json` naming the dependency.
	 */
	runtime?: RuntimePlatform | false;
	/** Minify the bundle (default true: it is a deployable, not a file to read). */
	minify?: boolean;
}

const SERVE_MAIN = moduleFile(import.meta.url, "../cli-mdp-serve");

/**
 * Builds the deployable server: one ES module bundled by esbuild from `entry` (the serving runtime by
 * default), `onnxruntime-node` (a native addon) kept outside and installed beside it pruned to one
 * platform, a `package.json`, and optionally the model bundle in `model/`. The result runs with
 * `node <out>/mdp-serve.mjs` on any machine with Node 20+: no TypeScript, no workspace, no install step.
 * Shared by every pattern that ships a server (vm, container) or a handler (serverless).
 *
 * @example
 * const server = await buildServer({ out: "dist/server", bundle: referenceBundleDir });
 * // node dist/server/mdp-serve.mjs --port 8080
 */
export async function buildServer(
	options: BuildServerOptions,
): Promise<Artifact> {
	const out = resolve(options.out);
	const outFile = options.outFile ?? "mdp-serve.mjs";
	const staging = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
	await mkdir(dirname(out), { recursive: true });
	await rm(staging, { recursive: true, force: true });
	const parts: Record<string, number> = {};
	try {
		await build({
			entryPoints: [options.entry ?? SERVE_MAIN],
			bundle: true,
			format: "esm",
			platform: "node",
			target: "node20",
			outfile: join(staging, outFile),
			external: ["onnxruntime-node"],
			minify: options.minify ?? true,
			// CommonJS dependencies (prom-client) call require(); give the ES module one.
			banner: {
				js: "import { createRequire as __mdpCreateRequire } from 'node:module'; const require = __mdpCreateRequire(import.meta.url);",
			},
			legalComments: "none",
			logLevel: "silent",
		});
		parts[outFile] = (await stat(join(staging, outFile))).size;
		const runtime =
			options.runtime === false
				? undefined
				: await installOnnxRuntime(staging, options.runtime ?? {});
		if (runtime)
			parts["node_modules (onnxruntime-node, pruned)"] = runtime.bytes;
		const version = runtime?.version ?? (await locateOnnxRuntime()).version;
		await writeFile(
			join(staging, "package.json"),
			`${JSON.stringify(
				{
					name: "mdp-server",
					private: true,
					type: "module",
					bin: { "mdp-serve": outFile },
					dependencies: { "onnxruntime-node": version },
				},
				null,
				2,
			)}\n`,
		);
		if (options.bundle) {
			await cp(resolve(options.bundle), join(staging, "model"), {
				recursive: true,
			});
			parts.model = await folderBytes(join(staging, "model"));
		}
		await rm(out, { recursive: true, force: true });
		await rename(staging, out);
	} catch (error) {
		await rm(staging, { recursive: true, force: true });
		throw error;
	}
	return {
		kind: "server-bundle",
		path: out,
		bytes: await folderBytes(out),
		parts,
	};
}

/** Total size of the files under `dir`. */
export async function folderBytes(dir: string): Promise<number> {
	let total = 0;
	for (const entry of await readdir(dir, {
		recursive: true,
		withFileTypes: true,
	})) {
		if (entry.isFile())
			total += (await stat(join(entry.parentPath, entry.name))).size;
	}
	return total;
}
