import { rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * Runs `write(tmpPath)` and renames the result to `path`; on failure removes the partial output, so a
 * failed build never leaves a half-written artifact where the real one belongs.
 */
export async function writeAtomically(
	path: string,
	write: (tmpPath: string) => Promise<void>,
): Promise<void> {
	const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
	try {
		await write(tmp);
		await rename(tmp, path);
	} catch (error) {
		await rm(tmp, { recursive: true, force: true });
		throw error;
	}
}
