/// <reference path="./postject.d.ts" />
import { spawnSync } from "node:child_process";
import {
	chmod,
	copyFile,
	mkdir,
	mkdtemp,
	readFile,
	rm,
	stat,
	writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { type Artifact, CoreError, loadBundle, moduleFile } from "@mdp/core";
import { locateOnnxRuntime } from "@mdp/core/build";
import { build as esbuild, type Plugin } from "esbuild";
import {
	NATIVE_FILES,
	NATIVE_KEY_ASSET,
	nativeRuntimeKey,
} from "./runtime/native-runtime.ts";
import { writeAtomically } from "./write-atomically.ts";

/** Options of {@link buildExecutable}. */
export interface BuildExecutableOptions {
	/** Model bundle folder. */
	bundle: string;
	/** Output executable. */
	out: string;
	/** Strip the copied Node binary's symbols (−12 MB; default true where `strip` exists). */
	strip?: boolean;
	/** Told about each step, for progress output. */
	onProgress?: (step: string) => void;
}

/** The fuse Node's SEA support looks for (Node 20+). */
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const MAIN = moduleFile(import.meta.url, "./runtime/sea-main");

/** Replaces onnxruntime-node's computed `require` of its `.node` file with the binding the entry loaded. */
const nativeBindingPlugin: Plugin = {
	name: "ort-native-binding",
	setup(build) {
		build.onLoad(
			{ filter: /onnxruntime-node[\\/]dist[\\/]binding\.js$/ },
			async (args) => {
				const source = await readFile(args.path, "utf8");
				const patched = source.replace(
					/require\(`\.\.\/bin\/napi-v6\/[^`]*onnxruntime_binding\.node`\)/,
					"globalThis.__ORT_NATIVE_BINDING__",
				);
				if (patched === source)
					throw new Error(
						"onnxruntime-node's binding loader changed; cannot embed it",
					);
				return { contents: patched, loader: "js" };
			},
		);
	},
};

/**
 * Builds a single Linux executable (a Node single executable application) holding the app, the feature
 * extractor, onnxruntime and the model: it needs no Node, no node_modules and no network. The native
 * runtime is extracted once to a content-hashed cache folder at first run.
 */
export async function buildExecutable(
	options: BuildExecutableOptions,
): Promise<Artifact> {
	if (process.platform !== "linux" || process.arch !== "x64") {
		throw new CoreError(
			"INVALID_ARGUMENT",
			`single executables are built for linux-x64 only (this is ${process.platform}-${process.arch})`,
		);
	}
	const progress = options.onProgress ?? (() => {});
	const { manifest, modelBytes } = await loadBundle(options.bundle);
	const out = resolve(options.out);
	await mkdir(dirname(out), { recursive: true });
	const work = await mkdtemp(join(tmpdir(), "mdp-sea-"));
	try {
		progress("bundling the app with esbuild");
		const main = join(work, "main.cjs");
		await esbuild({
			entryPoints: [MAIN],
			bundle: true,
			format: "cjs",
			platform: "node",
			target: "node20",
			minify: true,
			outfile: main,
			plugins: [nativeBindingPlugin],
			legalComments: "none",
			logLevel: "silent",
		});
		// The one place that knows onnxruntime-node's layout: core's runtime locator.
		const { nativeDir: native } = await locateOnnxRuntime({
			os: "linux",
			arch: "x64",
		});
		await writeFile(join(work, "mdp.json"), JSON.stringify(manifest));
		await writeFile(join(work, "model.onnx"), modelBytes);
		const assets: Record<string, string> = {
			"mdp.json": join(work, "mdp.json"),
			"model.onnx": join(work, "model.onnx"),
		};
		for (const file of NATIVE_FILES) assets[file] = join(native, file);
		const key = nativeRuntimeKey(
			await Promise.all(
				NATIVE_FILES.map((file) => readFile(join(native, file))),
			),
		);
		await writeFile(join(work, NATIVE_KEY_ASSET), key);
		assets[NATIVE_KEY_ASSET] = join(work, NATIVE_KEY_ASSET);
		const config = join(work, "sea-config.json");
		await writeFile(
			config,
			JSON.stringify({
				main,
				output: join(work, "sea.blob"),
				disableExperimentalSEAWarning: true,
				useCodeCache: true,
				assets,
			}),
		);
		progress("writing the SEA blob (node --experimental-sea-config)");
		const blob = spawnSync(
			process.execPath,
			["--experimental-sea-config", config],
			{ encoding: "utf8", env: { PATH: process.env.PATH ?? "" } },
		);
		if (blob.status !== 0)
			throw new CoreError(
				"INVALID_ARGUMENT",
				`node --experimental-sea-config failed: ${blob.stderr}`,
			);

		const parts: Record<string, number> = {
			"model.onnx": modelBytes.byteLength,
		};
		for (const file of NATIVE_FILES)
			parts[file] = (await stat(assets[file] as string)).size;
		parts["app (bundled JS)"] = (await stat(main)).size;
		await writeAtomically(out, async (tmp) => {
			await copyFile(process.execPath, tmp);
			await chmod(tmp, 0o755);
			const strip =
				options.strip ?? spawnSync("strip", ["--version"]).status === 0;
			if (strip) {
				progress("stripping the Node binary");
				const stripped = spawnSync("strip", ["--strip-all", tmp], {
					encoding: "utf8",
				});
				if (stripped.status !== 0)
					throw new CoreError(
						"INVALID_ARGUMENT",
						`strip failed: ${stripped.stderr}`,
					);
			}
			parts.node = (await stat(tmp)).size;
			progress("injecting the blob (postject)");
			const { inject } = await import("postject");
			await inject(
				tmp,
				"NODE_SEA_BLOB",
				await readFile(join(work, "sea.blob")),
				{ sentinelFuse: SEA_FUSE },
			);
		});
		progress(`wrote ${out}`);
		return {
			kind: "executable",
			path: out,
			bytes: (await stat(out)).size,
			parts,
		};
	} finally {
		await rm(work, { recursive: true, force: true });
	}
}
