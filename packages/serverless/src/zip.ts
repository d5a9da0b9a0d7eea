import {
	chmod,
	mkdir,
	readdir,
	readFile,
	stat,
	writeFile,
} from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { CoreError } from "@mdp/core";
import { unzipSync, type Zippable, zipSync } from "fflate";

/** One file of a zip, as {@link readZipEntries} lists it. */
export interface ZipEntry {
	/** Path inside the zip, `/`-separated. */
	name: string;
	/** Uncompressed size in bytes. */
	size: number;
	/** Compressed size in bytes. */
	compressedSize: number;
	/** Unix permission bits (e.g. 0o755), 0o644 when the zip carries none. */
	mode: number;
}

/** A file to put in a zip: its path inside the zip, its bytes and whether it is executable. */
export interface ZipSource {
	name: string;
	data: Uint8Array;
	executable: boolean;
}

/**
 * The fixed modification time of every entry: 1980-01-01 00:00, the first instant a zip can express,
 * built from local-time fields because the zip format stores local time (so the bytes do not depend on TZ).
 */
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);
const UNIX = 3;

/**
 * Zips files deterministically: entries sorted by name, every mtime 1980-01-01, permissions 0644, or 0755
 * for executables (a Lambda `bootstrap`, `*.node`, `*.so*`), made by "Unix", deflate level 9. The same input
 * gives the same bytes, so an artifact's hash identifies its content.
 *
 * @example
 * const bytes = zipFiles([{ name: "index.mjs", data: new TextEncoder().encode("export const handler = async () => 1;"), executable: false }]);
 */
export function zipFiles(files: readonly ZipSource[]): Uint8Array {
	const sorted = [...files].sort((a, b) =>
		a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
	);
	const input: Zippable = {};
	for (const file of sorted) {
		if (file.name in input)
			throw new CoreError(
				"INVALID_ARGUMENT",
				`duplicate zip entry ${file.name}`,
			);
		const mode = file.executable ? 0o100755 : 0o100644;
		input[file.name] = [
			file.data,
			{ attrs: (mode << 16) >>> 0, os: UNIX, mtime: FIXED_MTIME, level: 9 },
		];
	}
	return zipSync(input, { mtime: FIXED_MTIME });
}

/**
 * Reads every file under `dir` into zip sources (paths relative to `dir`, `/`-separated), keeping the
 * executable bit of each file. Symbolic links are refused: a function package must be self-contained.
 *
 * @example
 * const bytes = zipFiles(await readFolder("dist/aws"));
 */
export async function readFolder(dir: string): Promise<ZipSource[]> {
	const root = resolve(dir);
	const out: ZipSource[] = [];
	for (const entry of await readdir(root, {
		recursive: true,
		withFileTypes: true,
	})) {
		const path = join(entry.parentPath, entry.name);
		if (entry.isSymbolicLink())
			throw new CoreError(
				"INVALID_ARGUMENT",
				`${path} is a symbolic link; a function package must hold real files`,
			);
		if (!entry.isFile()) continue;
		const info = await stat(path);
		out.push({
			name: relative(root, path).split(sep).join("/"),
			data: await readFile(path),
			executable: (info.mode & 0o111) !== 0,
		});
	}
	return out;
}

/**
 * Lists a zip's files from its central directory: names, sizes and Unix modes (which fflate's reader does
 * not expose). Throws a CoreError naming the file when it is not a zip.
 *
 * @example
 * const entries = readZipEntries(await readFile("aws.zip"), "aws.zip");
 * entries.find((e) => e.name === "bootstrap")?.mode; // 0o755
 */
export function readZipEntries(zip: Uint8Array, label = "zip"): ZipEntry[] {
	const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
	let eocd = -1;
	for (
		let i = zip.byteLength - 22;
		i >= Math.max(0, zip.byteLength - 65_557);
		i--
	) {
		if (view.getUint32(i, true) === 0x06054b50) {
			eocd = i;
			break;
		}
	}
	if (eocd < 0)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`${label} is not a zip file (no end of central directory)`,
		);
	const count = view.getUint16(eocd + 10, true);
	let offset = view.getUint32(eocd + 16, true);
	const entries: ZipEntry[] = [];
	const decoder = new TextDecoder();
	for (let i = 0; i < count; i++) {
		if (
			offset + 46 > zip.byteLength ||
			view.getUint32(offset, true) !== 0x02014b50
		)
			throw new CoreError(
				"INVALID_ARGUMENT",
				`${label}: corrupt central directory at entry ${i}`,
			);
		const madeBy = view.getUint16(offset + 4, true) >> 8;
		const compressedSize = view.getUint32(offset + 20, true);
		const size = view.getUint32(offset + 24, true);
		const nameLength = view.getUint16(offset + 28, true);
		const extraLength = view.getUint16(offset + 30, true);
		const commentLength = view.getUint16(offset + 32, true);
		const attrs = view.getUint32(offset + 38, true);
		const name = decoder.decode(
			zip.subarray(offset + 46, offset + 46 + nameLength),
		);
		const unixMode = madeBy === UNIX ? (attrs >>> 16) & 0o777 : 0;
		if (!name.endsWith("/"))
			entries.push({ name, size, compressedSize, mode: unixMode || 0o644 });
		offset += 46 + nameLength + extraLength + commentLength;
	}
	return entries;
}

/**
 * Extracts a zip into `dir` (created), restoring each file's Unix permissions, as Lambda does when it
 * unpacks a package into `/var/task`. Entries that would land outside `dir` (`../`, absolute) are refused.
 *
 * @example
 * await extractZip(await readFile("aws.zip"), "/tmp/task");
 */
export async function extractZip(
	zip: Uint8Array,
	dir: string,
	label = "zip",
): Promise<ZipEntry[]> {
	const root = resolve(dir);
	const entries = readZipEntries(zip, label);
	let files: Record<string, Uint8Array>;
	try {
		files = unzipSync(zip);
	} catch (error) {
		throw new CoreError(
			"INVALID_ARGUMENT",
			`${label} cannot be unzipped: ${(error as Error).message}`,
		);
	}
	const modes = new Map(entries.map((e) => [e.name, e.mode]));
	await mkdir(root, { recursive: true });
	for (const [name, data] of Object.entries(files)) {
		if (name.endsWith("/")) continue;
		const target = resolve(root, name);
		if (!target.startsWith(root + sep))
			throw new CoreError(
				"INVALID_ARGUMENT",
				`${label}: entry "${name}" would be written outside the folder`,
			);
		await mkdir(dirname(target), { recursive: true });
		await writeFile(target, data);
		await chmod(target, modes.get(name) ?? 0o644);
	}
	return entries;
}
