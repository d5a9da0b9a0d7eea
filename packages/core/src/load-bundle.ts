import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ZodError } from "zod";
import { type BundleManifest, parseBundleManifest } from "./bundle-manifest.ts";
import { CoreError } from "./errors.ts";

/** A model bundle read from disk and verified: its manifest and the model bytes it vouches for. */
export interface ModelBundle {
	/** Folder the bundle was read from. */
	dir: string;
	manifest: BundleManifest;
	/** Contents of `model.onnx`, already checked against `manifest.model.sha256`. */
	modelBytes: Uint8Array;
}

/** Hex sha256 of some bytes. */
export function sha256Hex(bytes: Uint8Array | string): string {
	return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Reads a bundle folder (`mdp.json` + `model.onnx`), validates the manifest and checks the model's hash.
 * Throws `CoreError("INVALID_BUNDLE")` naming the file and, for the manifest, the field.
 *
 * @example
 * const bundle = await loadBundle("packages/core/models/penguins");
 * bundle.manifest.target.labels; // ["Adelie", "Chinstrap", "Gentoo"]
 */
export async function loadBundle(dir: string): Promise<ModelBundle> {
	const manifestPath = join(dir, "mdp.json");
	const manifest = parseManifestText(
		await readBundleFile(manifestPath, "utf8"),
		manifestPath,
	);
	const modelPath = join(dir, manifest.model.file);
	const modelBytes = await readBundleFile(modelPath);
	const actual = sha256Hex(modelBytes);
	if (actual !== manifest.model.sha256) {
		throw new CoreError(
			"INVALID_BUNDLE",
			`${modelPath}: sha256 is ${actual} but ${manifestPath} field model.sha256 says ${manifest.model.sha256}; the model file was changed or is corrupt`,
		);
	}
	return { dir, manifest, modelBytes };
}

/** Reads just the model name of the bundle in `dir` (validating its manifest). */
export async function readManifestName(dir: string): Promise<string> {
	const path = join(dir, "mdp.json");
	return parseManifestText(await readBundleFile(path, "utf8"), path).name;
}

/** Parses and validates the text of an `mdp.json`; `source` names it in errors. */
export function parseManifestText(
	text: string,
	source = "mdp.json",
): BundleManifest {
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch (error) {
		throw new CoreError(
			"INVALID_BUNDLE",
			`${source}: not valid JSON (${(error as Error).message})`,
			{
				cause: error,
			},
		);
	}
	try {
		return parseBundleManifest(value);
	} catch (error) {
		if (!(error instanceof ZodError)) throw error;
		const problems = error.issues.map(
			(issue) => `field ${formatPath(issue.path)}: ${issue.message}`,
		);
		throw new CoreError("INVALID_BUNDLE", `${source}: ${problems.join("; ")}`, {
			cause: error,
		});
	}
}

function formatPath(path: readonly PropertyKey[]): string {
	if (path.length === 0) return "(root)";
	return path
		.map((key, i) =>
			typeof key === "number" ? `[${key}]` : `${i ? "." : ""}${String(key)}`,
		)
		.join("");
}

async function readBundleFile(path: string): Promise<Buffer>;
async function readBundleFile(path: string, encoding: "utf8"): Promise<string>;
async function readBundleFile(
	path: string,
	encoding?: "utf8",
): Promise<Buffer | string> {
	try {
		return encoding ? await readFile(path, encoding) : await readFile(path);
	} catch (error) {
		const reason =
			(error as NodeJS.ErrnoException).code === "ENOENT"
				? "file not found"
				: (error as Error).message;
		throw new CoreError("INVALID_BUNDLE", `${path}: ${reason}`, {
			cause: error,
		});
	}
}
