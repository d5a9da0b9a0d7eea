import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { renderHtml } from "./render-html.ts";
import { renderMarkdown } from "./render-report.ts";
import type { BenchResults } from "./types.ts";

/** Writes results.json, report.md and report.html into `dir`. */
export async function writeReport(
	dir: string,
	results: BenchResults,
): Promise<void> {
	await mkdir(dir, { recursive: true });
	await writeFile(
		join(dir, "results.json"),
		`${JSON.stringify(results, null, 2)}\n`,
	);
	await writeFile(join(dir, "report.md"), renderMarkdown(results));
	await writeFile(join(dir, "report.html"), await renderHtml(results));
}

/** Re-renders report.md and report.html from a stored results.json, without re-running anything. */
export async function rerenderReport(dir: string): Promise<BenchResults> {
	const results = JSON.parse(
		await readFile(join(dir, "results.json"), "utf8"),
	) as BenchResults;
	await writeReport(dir, results);
	return results;
}

/** Replaces `reports/latest` with a copy of a run's folder. */
export async function updateLatest(
	reportsRoot: string,
	dir: string,
): Promise<void> {
	const latest = join(reportsRoot, "latest");
	await rm(latest, { recursive: true, force: true });
	await cp(dir, latest, { recursive: true });
}
