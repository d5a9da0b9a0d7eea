import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { BundleManifest, BundleManifestInput } from "./bundle-manifest.ts";
import { parseBundleManifest } from "./bundle-manifest.ts";
import { BUNDLE_DIGEST_FILE, bundleDigest, sha256Hex } from "./load-bundle.ts";

/** What {@link writeBundle} writes. */
export interface WriteBundleInput {
	/** The manifest; `model.sha256` is computed from `modelBytes` and need not be set. */
	manifest: Omit<BundleManifestInput, "model"> & {
		model: Omit<BundleManifestInput["model"], "sha256">;
	};
	modelBytes: Uint8Array;
	/** More files to put in the bundle folder (for example `golden.jsonl`). */
	extraFiles?: Record<string, string | Uint8Array>;
}

/**
 * Writes a bundle folder atomically: everything goes to a sibling temp folder that is renamed into place,
 * so a failed write never leaves a partial bundle and an existing bundle is replaced whole. Besides
 * `mdp.json` and `model.onnx` it writes `bundle.sha256`, one digest over both, which `loadBundle` checks.
 * Output is deterministic: the same input gives byte-identical files.
 */
export async function writeBundle(
	dir: string,
	input: WriteBundleInput,
): Promise<BundleManifest> {
	const manifest = parseBundleManifest({
		...input.manifest,
		model: { ...input.manifest.model, sha256: sha256Hex(input.modelBytes) },
	});
	const parent = dirname(dir);
	await mkdir(parent, { recursive: true });
	const staging = join(parent, `.${basename(dir)}.tmp-${process.pid}`);
	const previous = join(parent, `.${basename(dir)}.old-${process.pid}`);
	await rm(staging, { recursive: true, force: true });
	let movedAside = false;
	try {
		await mkdir(staging);
		const manifestBytes = Buffer.from(
			`${JSON.stringify(manifest, null, 2)}\n`,
			"utf8",
		);
		await writeFile(join(staging, "model.onnx"), input.modelBytes);
		await writeFile(join(staging, "mdp.json"), manifestBytes);
		// One digest over manifest and model: an edit to either after this point is refused on load.
		await writeFile(
			join(staging, BUNDLE_DIGEST_FILE),
			`${bundleDigest(manifestBytes, input.modelBytes)}\n`,
		);
		for (const [name, contents] of Object.entries(input.extraFiles ?? {})) {
			await writeFile(join(staging, name), contents);
		}
		movedAside = await rename(dir, previous).then(
			() => true,
			(error: NodeJS.ErrnoException) => {
				if (error.code === "ENOENT") return false;
				throw error;
			},
		);
		await rename(staging, dir);
		movedAside = false;
		await rm(previous, { recursive: true, force: true });
	} catch (error) {
		await rm(staging, { recursive: true, force: true });
		if (movedAside) await rename(previous, dir);
		throw error;
	}
	return manifest;
}
