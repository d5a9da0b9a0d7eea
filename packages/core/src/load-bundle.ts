import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import {
	type BundleManifest,
	bundleManifestSchema,
} from "./bundle-manifest.ts";
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
	const manifestBytes = await readBundleFile(manifestPath);
	const manifest = parseManifestText(
		manifestBytes.toString("utf8"),
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
	// The bundle as a whole: a manifest edited after it was written (labels reordered, say) is refused.
	const digestPath = join(dir, BUNDLE_DIGEST_FILE);
	const expected = await readBundleFile(digestPath).then(
		(b) => b.toString("utf8").trim(),
		(error: CoreError) => {
			// Bundles written before the digest existed have none: their model hash still holds.
			if ((error.cause as NodeJS.ErrnoException)?.code === "ENOENT")
				return undefined;
			throw error;
		},
	);
	if (expected !== undefined) {
		const whole = bundleDigest(manifestBytes, modelBytes);
		if (whole !== expected) {
			throw new CoreError(
				"INVALID_BUNDLE",
				`${dir}: the bundle digest is ${whole} but ${BUNDLE_DIGEST_FILE} says ${expected.slice(0, 64)}; mdp.json or model.onnx was changed after the bundle was written`,
			);
		}
	}
	return { dir, manifest, modelBytes };
}

/** The file holding one digest over a bundle's manifest and model (written by `writeBundle`). */
export const BUNDLE_DIGEST_FILE = "bundle.sha256";

/**
 * One digest over a whole bundle: sha256 of the `mdp.json` bytes, a NUL byte and the model bytes.
 *
 * @example
 * bundleDigest(await readFile("mdp.json"), await readFile("model.onnx")); // "9f2c…"
 */
export function bundleDigest(
	manifestBytes: Uint8Array,
	modelBytes: Uint8Array,
): string {
	return createHash("sha256")
		.update(manifestBytes)
		.update(new Uint8Array([0]))
		.update(modelBytes)
		.digest("hex");
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
		// The parser's message quotes the text; a manifest must never be echoed (it may be any file).
		const at = /position (\d+)/.exec((error as Error).message)?.[1];
		throw new CoreError(
			"INVALID_BUNDLE",
			`${source}: not valid JSON${at === undefined ? "" : ` (at position ${at})`}`,
			{ cause: error },
		);
	}
	const result = bundleManifestSchema.safeParse(value);
	if (result.success) return result.data;
	const problems = result.error.issues.map(
		(issue) => `field ${formatPath(issue.path)}: ${issue.message}`,
	);
	throw new CoreError("INVALID_BUNDLE", `${source}: ${problems.join("; ")}`, {
		cause: result.error,
	});
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
/**
 * Reads a bundle file, refusing anything but a regular file: a symbolic link (to a system file, or to a
 * model outside the model root) is never followed. Errors name the file and never echo its contents.
 */
async function readBundleFile(
	path: string,
	encoding?: "utf8",
): Promise<Buffer | string> {
	let handle: Awaited<ReturnType<typeof open>> | undefined;
	try {
		handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
		if (!(await handle.stat()).isFile()) {
			throw new CoreError(
				"INVALID_BUNDLE",
				`${path}: not a regular file; bundle files must be plain files`,
			);
		}
		return encoding ? await handle.readFile(encoding) : await handle.readFile();
	} catch (error) {
		if (error instanceof CoreError) throw error;
		const code = (error as NodeJS.ErrnoException).code;
		const reason =
			code === "ENOENT"
				? "file not found"
				: code === "ELOOP"
					? "is a symbolic link; bundle files must be plain files inside the bundle folder"
					: (code ?? "unreadable");
		throw new CoreError("INVALID_BUNDLE", `${path}: ${reason}`, {
			cause: error,
		});
	} finally {
		await handle?.close();
	}
}

/** Name, version and model digest of the bundle in `dir` (verified): what a deployment says it serves. */
export async function readServedModel(
	dir: string,
): Promise<{ name: string; version: string; sha256: string }> {
	const { manifest } = await loadBundle(dir);
	return {
		name: manifest.name,
		version: manifest.version,
		sha256: manifest.model.sha256,
	};
}
