import { createHash } from "node:crypto";
import {
	mkdir,
	mkdtemp,
	readFile,
	rename,
	rm,
	writeFile,
} from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { type Artifact, CoreError, moduleFile } from "@mdp/core";
import { buildServer } from "@mdp/core/build";
import { installedPackage } from "./installed-package.ts";
import {
	exceededLimits,
	formatBytes,
	type Provider,
	SIZE_LIMITS,
	type SizeLimit,
} from "./limits.ts";
import { readFolder, type ZipSource, zipFiles } from "./zip.ts";

/** Options of {@link packageFunction}. */
export interface PackageFunctionOptions {
	/** The model bundle folder to put inside the package (`model/`). */
	bundle: string;
	provider: Provider;
	/** The zip to write (replaced atomically; nothing is written when the build or a limit check fails). */
	out: string;
	/** Check the provider's size limits (default true). */
	checkLimits?: boolean;
}

/** What takes the space in a package. */
export interface SizeBreakdownRow {
	/** A top-level part: `index.mjs`, `model/`, `node_modules/onnxruntime-node/`, … */
	part: string;
	bytes: number;
}

/**
 * A built function package and its sizes against the provider's limits. It is also a core `Artifact`
 * (`kind: "zip"`, `bytes` = the zip's size, `parts` = the unzipped breakdown) for the harness's
 * footprint table.
 */
export interface FunctionPackage extends Artifact {
	kind: "zip";
	provider: Provider;
	/** The zip written. */
	path: string;
	/** SHA-256 of the zip (deterministic: the same inputs give the same hash). */
	sha256: string;
	compressedBytes: number;
	uncompressedBytes: number;
	files: number;
	/** Space per top-level part, largest first. */
	breakdown: SizeBreakdownRow[];
	/** The ten largest files. */
	largest: { name: string; bytes: number }[];
	limit: SizeLimit;
	/** How the provider runs it: handler string, entry point, runtime. */
	entry: string;
}

const HANDLERS: Record<Provider, string> = {
	aws: moduleFile(import.meta.url, "./handlers/aws"),
	gcp: moduleFile(import.meta.url, "./handlers/gcp"),
	azure: moduleFile(import.meta.url, "./handlers/azure"),
};

const ENTRIES: Record<Provider, string> = {
	aws: "runtime nodejs22.x or nodejs24.x (an async ESM handler, no callback), handler index.handler",
	gcp: "runtime nodejs22 or later, entry point predict (functions-framework --target=predict)",
	azure:
		"Node.js programming model v4, HTTP function predict (route {*path}, route prefix none)",
};

/** The version of a dependency installed beside this package (what the package.json of a zip pins). */
function installedVersion(name: string): string {
	return installedPackage(name).version;
}

/** The package.json of each provider's zip. */
function packageJson(provider: Provider, ortVersion: string): object {
	const base = {
		name: "mdp-function",
		version: "0.1.0",
		private: true,
		type: "module",
	};
	switch (provider) {
		case "aws":
			// Lambda needs no package.json for index.mjs; it only records what node_modules holds.
			return {
				...base,
				main: "index.mjs",
				dependencies: { "onnxruntime-node": ortVersion },
			};
		case "gcp":
			return {
				...base,
				main: "index.mjs",
				scripts: { start: "functions-framework --target=predict" },
				// Installed by the provider's build; onnxruntime-node also ships pruned in node_modules.
				dependencies: {
					"@google-cloud/functions-framework": installedVersion(
						"@google-cloud/functions-framework",
					),
					"onnxruntime-node": ortVersion,
				},
			};
		case "azure":
			return {
				...base,
				main: "index.mjs",
				// Installed by the provider's build (remote build); v4 requires it listed to detect the model.
				dependencies: {
					"@azure/functions": installedVersion("@azure/functions"),
					"onnxruntime-node": ortVersion,
				},
			};
	}
}

/**
 * host.json of the azure zip: Functions 2.0 schema, no route prefix so paths are the app's own.
 *
 * @example
 * await writeFile("host.json", JSON.stringify(AZURE_HOST_JSON, null, 2));
 */
export const AZURE_HOST_JSON = {
	version: "2.0",
	extensions: { http: { routePrefix: "" } },
	extensionBundle: {
		id: "Microsoft.Azure.Functions.ExtensionBundle",
		version: "[4.*, 5.0.0)",
	},
};

/**
 * Builds a provider-format function package: the provider's handler entry bundled by esbuild into
 * `index.mjs`, onnxruntime-node pruned to linux-x64, the model bundle in `model/`, the provider's manifest
 * files; zipped deterministically and checked against the provider's size limits. Over a limit it throws
 * a CoreError with the sizes, the limit and the largest files, and writes nothing.
 *
 * @example
 * const pkg = await packageFunction({ bundle: referenceBundleDir, provider: "aws", out: "dist/aws.zip" });
 * pkg.compressedBytes; // ~17 MB, against a 50 MB limit
 */
export async function packageFunction(
	options: PackageFunctionOptions,
): Promise<FunctionPackage> {
	const out = resolve(options.out);
	await mkdir(dirname(out), { recursive: true });
	const staging = await mkdtemp(join(dirname(out), `.${basename(out)}.tmp-`));
	try {
		const dir = join(staging, "package");
		await buildServer({
			out: dir,
			entry: HANDLERS[options.provider],
			outFile: "index.mjs",
			bundle: options.bundle,
			runtime: { os: "linux", arch: "x64" },
		});
		const ortVersion = (
			JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as {
				dependencies: Record<string, string>;
			}
		).dependencies["onnxruntime-node"] as string;
		await writeFile(
			join(dir, "package.json"),
			`${JSON.stringify(packageJson(options.provider, ortVersion), null, 2)}\n`,
		);
		if (options.provider === "azure")
			await writeFile(
				join(dir, "host.json"),
				`${JSON.stringify(AZURE_HOST_JSON, null, 2)}\n`,
			);
		const files = await readFolder(dir);
		return await writeZip(files, {
			provider: options.provider,
			out,
			staging,
			checkLimits: options.checkLimits ?? true,
			entry: ENTRIES[options.provider],
		});
	} finally {
		await rm(staging, { recursive: true, force: true });
	}
}

/**
 * Zips a prepared folder (a custom runtime with its `bootstrap`, a hand-made package) the same
 * deterministic way, with the same size checks.
 *
 * @example
 * await zipFolder({ dir: "custom-runtime", provider: "aws", out: "dist/custom.zip" });
 */
export async function zipFolder(options: {
	dir: string;
	provider: Provider;
	out: string;
	checkLimits?: boolean;
}): Promise<FunctionPackage> {
	const out = resolve(options.out);
	await mkdir(dirname(out), { recursive: true });
	const staging = await mkdtemp(join(dirname(out), `.${basename(out)}.tmp-`));
	try {
		return await writeZip(await readFolder(options.dir), {
			provider: options.provider,
			out,
			staging,
			checkLimits: options.checkLimits ?? true,
			entry: "as found in the folder",
		});
	} finally {
		await rm(staging, { recursive: true, force: true });
	}
}

async function writeZip(
	files: ZipSource[],
	options: {
		provider: Provider;
		out: string;
		staging: string;
		checkLimits: boolean;
		entry: string;
	},
): Promise<FunctionPackage> {
	const { provider, out } = options;
	const uncompressedBytes = files.reduce(
		(sum, f) => sum + f.data.byteLength,
		0,
	);
	const largest = [...files]
		.sort((a, b) => b.data.byteLength - a.data.byteLength)
		.slice(0, 10)
		.map((f) => ({ name: f.name, bytes: f.data.byteLength }));
	const breakdown = sizeBreakdown(files);
	const limit = SIZE_LIMITS[provider];
	// Over the unzipped limit there is no point compressing hundreds of MB to say so.
	const early = options.checkLimits
		? exceededLimits(provider, { compressedBytes: 0, uncompressedBytes })
		: [];
	if (early.length > 0)
		throw tooLarge(provider, early, largest, { uncompressedBytes });
	const zip = zipFiles(files);
	const sizes = { compressedBytes: zip.byteLength, uncompressedBytes };
	const exceeded = options.checkLimits ? exceededLimits(provider, sizes) : [];
	if (exceeded.length > 0) throw tooLarge(provider, exceeded, largest, sizes);
	const temp = join(options.staging, "package.zip");
	await writeFile(temp, zip);
	await rename(temp, out);
	return {
		kind: "zip",
		bytes: zip.byteLength,
		parts: Object.fromEntries(breakdown.map((b) => [b.part, b.bytes])),
		provider,
		path: out,
		sha256: createHash("sha256").update(zip).digest("hex"),
		...sizes,
		files: files.length,
		breakdown,
		largest,
		limit,
		entry: options.entry,
	};
}

/**
 * Space per top-level part (`model/`, `index.mjs`, each package under `node_modules/`), largest first.
 *
 * @example
 * sizeBreakdown(await readFolder("dist/aws"))[0]; // { part: "node_modules/onnxruntime-node/", bytes: 46228442 }
 */
export function sizeBreakdown(files: readonly ZipSource[]): SizeBreakdownRow[] {
	const parts = new Map<string, number>();
	for (const file of files) {
		const segments = file.name.split("/");
		let part: string;
		if (segments[0] === "node_modules" && segments.length > 2) {
			const scoped = segments[1]?.startsWith("@") && segments.length > 3;
			part = `${segments.slice(0, scoped ? 3 : 2).join("/")}/`;
		} else part = segments.length > 1 ? `${segments[0]}/` : file.name;
		parts.set(part, (parts.get(part) ?? 0) + file.data.byteLength);
	}
	return [...parts]
		.map(([part, bytes]) => ({ part, bytes }))
		.sort((a, b) => b.bytes - a.bytes);
}

function tooLarge(
	provider: Provider,
	exceeded: string[],
	largest: { name: string; bytes: number }[],
	sizes: Partial<{ compressedBytes: number; uncompressedBytes: number }>,
): CoreError {
	const limit = SIZE_LIMITS[provider];
	const lines = [
		`the ${provider} package is over the provider's size limit:`,
		...exceeded.map((e) => `  ${e}`),
		`  sizes: unzipped ${sizes.uncompressedBytes ?? "?"} bytes, zipped ${sizes.compressedBytes ?? "not computed (already over the unzipped limit)"}${sizes.compressedBytes === undefined ? "" : " bytes"}`,
		`  limit: ${limit.scope} (source: ${limit.source}, read ${limit.read})`,
		"  largest entries:",
		...largest.map((l) => `    ${formatBytes(l.bytes).padStart(9)}  ${l.name}`),
	];
	return new CoreError("INVALID_BUNDLE", lines.join("\n"));
}
