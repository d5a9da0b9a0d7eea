import {
	copyFile,
	mkdir,
	readdir,
	readFile,
	stat,
	writeFile,
} from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { CoreError } from "../errors.ts";

/** A platform onnxruntime-node ships a prebuilt binding for. */
export interface RuntimePlatform {
	/** `process.platform` of the target: `linux`, `darwin`, `win32`. Default `linux`. */
	os?: string;
	/** `process.arch` of the target: `x64`, `arm64`. Default `x64`. */
	arch?: string;
}

/** Where onnxruntime-node is on this machine, and its native files for one platform. */
export interface OnnxRuntimeLocation {
	version: string;
	/** The package root of onnxruntime-node. */
	root: string;
	/** The package root of onnxruntime-common, its one run-time JavaScript dependency. */
	commonRoot: string;
	/** Folder of the binding and the shared library for the platform asked for. */
	nativeDir: string;
	/** Names of the files in `nativeDir` (`onnxruntime_binding.node`, `libonnxruntime.so.1`, …). */
	nativeFiles: string[];
}

/** What {@link installOnnxRuntime} wrote. */
export interface InstalledRuntime {
	version: string;
	/** The `node_modules` folder it wrote into. */
	nodeModules: string;
	/** Bytes written, all files. */
	bytes: number;
	/** Bytes per file that matters (the native ones). */
	parts: Record<string, number>;
}

const require = createRequire(import.meta.url);

/** Finds onnxruntime-node as `@mdp/core` resolves it, and its native files for `platform`. */
export async function locateOnnxRuntime(
	platform: RuntimePlatform = {},
): Promise<OnnxRuntimeLocation> {
	const os = platform.os ?? "linux";
	const arch = platform.arch ?? "x64";
	// dist/index.js sits one level below the package root.
	const root = dirname(dirname(require.resolve("onnxruntime-node")));
	// onnxruntime-common exports no ./package.json: resolve its CommonJS entry, dist/cjs/index.js.
	const commonRoot = dirname(
		dirname(
			dirname(
				createRequire(join(root, "package.json")).resolve("onnxruntime-common"),
			),
		),
	);
	const { version } = JSON.parse(
		await readFile(join(root, "package.json"), "utf8"),
	) as { version: string };
	const nativeDir = join(root, "bin", "napi-v6", os, arch);
	let nativeFiles: string[];
	try {
		nativeFiles = (await readdir(nativeDir)).sort();
	} catch {
		throw new CoreError(
			"NOT_FOUND",
			`onnxruntime-node ${version} ships no binding for ${os}-${arch} (looked in ${nativeDir})`,
		);
	}
	return { version, root, commonRoot, nativeDir, nativeFiles };
}

/**
 * Installs onnxruntime-node into `<dir>/node_modules`, pruned to one platform: its JavaScript, the binding
 * and shared library of `platform` (default linux-x64), and onnxruntime-common; nothing for other
 * platforms, no CUDA providers, no install script (the copied `package.json` has no `scripts`, so an
 * `npm install` run later in that folder does not try to download anything). Every artifact that runs the
 * model on Node (server bundle, image, function zip, single executable) takes its runtime from here.
 *
 * @example
 * const runtime = await installOnnxRuntime("dist/server"); // dist/server/node_modules/onnxruntime-node
 * console.log(runtime.bytes); // ≈ 46 MB on linux-x64
 */
export async function installOnnxRuntime(
	dir: string,
	platform: RuntimePlatform = {},
): Promise<InstalledRuntime> {
	const where = await locateOnnxRuntime(platform);
	const nodeModules = join(dir, "node_modules");
	const parts: Record<string, number> = {};
	let bytes = 0;
	const copy = async (from: string, to: string) => {
		await mkdir(dirname(to), { recursive: true });
		await copyFile(from, to);
		bytes += (await stat(to)).size;
	};
	const writeManifest = async (from: string, to: string) => {
		const manifest = JSON.parse(await readFile(from, "utf8")) as Record<
			string,
			unknown
		>;
		for (const key of ["scripts", "devDependencies"]) delete manifest[key];
		const text = `${JSON.stringify(manifest, null, 2)}\n`;
		await mkdir(dirname(to), { recursive: true });
		await writeFile(to, text);
		bytes += Buffer.byteLength(text);
	};

	const ort = join(nodeModules, "onnxruntime-node");
	await writeManifest(
		join(where.root, "package.json"),
		join(ort, "package.json"),
	);
	for (const f of await readdir(join(where.root, "dist")))
		if (f.endsWith(".js"))
			await copy(join(where.root, "dist", f), join(ort, "dist", f));
	const os = platform.os ?? "linux";
	const arch = platform.arch ?? "x64";
	for (const f of where.nativeFiles) {
		const to = join(ort, "bin", "napi-v6", os, arch, f);
		await copy(join(where.nativeDir, f), to);
		parts[f] = (await stat(to)).size;
	}

	const common = join(nodeModules, "onnxruntime-common");
	await writeManifest(
		join(where.commonRoot, "package.json"),
		join(common, "package.json"),
	);
	for (const flavour of ["cjs", "esm"]) {
		const from = join(where.commonRoot, "dist", flavour);
		for (const f of await readdir(from, { recursive: true })) {
			if (f.endsWith(".js") || f === "package.json")
				await copy(join(from, f), join(common, "dist", flavour, f));
		}
	}
	return { version: where.version, nodeModules, bytes, parts };
}
