import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import type { Readable } from "node:stream";
import { pack } from "tar-stream";

/** One entry of a build context: a file with its bytes, or a directory. */
export interface ContextEntry {
	/** Path inside the context, `/`-separated, no leading slash. */
	name: string;
	/** File contents; absent for a directory. */
	data?: Buffer;
	/** Default 0o644 for files, 0o755 for directories. */
	mode?: number;
}

/**
 * Packs entries into a tar stream, the build context the engine's build endpoint takes. Everything is in
 * memory: nothing is written to disk, so a failed build leaves no partial artifact.
 *
 * @example
 * const context = packContext([{ name: "Dockerfile", data: Buffer.from("FROM scratch\n") }]);
 * await engine.docker.buildImage(context, { t: "x" });
 */
export function packContext(entries: readonly ContextEntry[]): Readable {
	const tar = pack();
	for (const entry of entries) {
		if (entry.data === undefined)
			tar.entry({
				name: entry.name,
				type: "directory",
				mode: entry.mode ?? 0o755,
			});
		else
			tar.entry(
				{
					name: entry.name,
					mode: entry.mode ?? 0o644,
					size: entry.data.length,
				},
				entry.data,
			);
	}
	tar.finalize();
	return tar as unknown as Readable;
}

/** Every file under `dir` as context entries below `prefix` (executable bits kept). */
export async function folderEntries(
	dir: string,
	prefix: string,
): Promise<ContextEntry[]> {
	const entries: ContextEntry[] = [];
	for (const entry of await readdir(dir, {
		recursive: true,
		withFileTypes: true,
	})) {
		const full = join(entry.parentPath, entry.name);
		const name = `${prefix}/${relative(dir, full).split("\\").join("/")}`;
		if (entry.isDirectory()) entries.push({ name });
		else if (entry.isFile()) {
			const { mode } = await stat(full);
			entries.push({
				name,
				data: await readFile(full),
				mode: mode & 0o111 ? 0o755 : 0o644,
			});
		}
	}
	return entries.sort((a, b) => a.name.localeCompare(b.name));
}
