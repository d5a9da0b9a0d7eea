import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { LoadResult, Scenario } from "../types.ts";

const SCRIPT = fileURLToPath(new URL("../../k6/scenario.ts", import.meta.url));

/**
 * Writes the k6 script lowered to what every k6 runs: k6 reads TypeScript and `??` only from v0.57 on, so
 * the script is bundled by esbuild to ES2017 JavaScript with k6's own modules left as imports.
 */
export async function lowerK6Script(outFile: string): Promise<string> {
	await build({
		entryPoints: [SCRIPT],
		bundle: true,
		format: "esm",
		target: "es2017",
		platform: "neutral",
		external: ["k6", "k6/*"],
		outfile: outFile,
		logLevel: "silent",
	});
	return outFile;
}

/** CPU seconds of a command's children, from bash's `times` printed last on stderr. */
export function childCpuSeconds(stderr: string): number {
	const lines = stderr.trim().split("\n");
	const children = lines.at(-1) ?? "";
	const match = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(children.trim());
	if (!match) return Number.NaN;
	const [, um, us, sm, ss] = match.map(Number) as number[];
	return (
		(um as number) * 60 + (us as number) + (sm as number) * 60 + (ss as number)
	);
}

/** The k6 binary to use: `K6_BIN`, else `k6` on PATH; undefined when there is none. */
export function findK6(): string | undefined {
	const bin = process.env.K6_BIN ?? "k6";
	return spawnSync(bin, ["version"], { encoding: "utf8" }).status === 0
		? bin
		: undefined;
}

/** The parts of k6's `--summary-export` JSON the harness reads. */
export interface K6Summary {
	metrics: Record<string, Record<string, number>>;
}

/**
 * Turns k6's summary export into a {@link LoadResult}. In that format a Rate metric's `passes` counts the
 * *true* values, so for `http_req_failed` it is the number of failed requests.
 */
export function fromK6Summary(
	summary: K6Summary,
	scenario: Scenario,
	elapsedS: number,
): LoadResult {
	const d = summary.metrics.http_req_duration ?? {};
	const reqs = summary.metrics.http_reqs ?? {};
	const failed = summary.metrics.http_req_failed ?? {};
	const requests = reqs.count ?? 0;
	const errors = failed.passes ?? Math.round((failed.value ?? 0) * requests);
	// k6's own rate (requests over the test's duration) excludes k6's start-up; the wall time does not.
	const rate = reqs.rate ?? requests / elapsedS;
	return {
		scenario: scenario.id,
		offered_rps:
			scenario.executor === "constant-arrival-rate" ? scenario.rate : null,
		achieved_rps: requests > 0 ? (rate * (requests - errors)) / requests : 0,
		requests,
		errors,
		dropped: summary.metrics.dropped_iterations?.count ?? 0,
		p50_ms: d.med ?? Number.NaN,
		p90_ms: d["p(90)"] ?? Number.NaN,
		p99_ms: d["p(99)"] ?? Number.NaN,
		p999_ms: d["p(99.9)"] ?? Number.NaN,
		max_ms: d.max ?? Number.NaN,
		schedule_lag_p99_ms: Number.NaN,
		target_cpu_s: 0,
		driver_cpu_s: 0,
		steal_pct: 0,
	};
}

/** Runs a scenario with k6 against `url`, posting the given bodies in turn. */
export async function runK6(
	k6: string,
	scenario: Scenario,
	url: string,
	bodies: readonly string[],
): Promise<LoadResult> {
	const dir = await mkdtemp(join(tmpdir(), "mdp-k6-"));
	try {
		const bodiesFile = join(dir, "bodies.json");
		const summaryFile = join(dir, "summary.json");
		await writeFile(bodiesFile, JSON.stringify(bodies));
		const script = await lowerK6Script(join(dir, "scenario.js"));
		const started = performance.now();
		// Through bash, whose `times` reports the CPU k6 used: the driver's cost is part of every result.
		const run = spawnSync(
			"bash",
			[
				"-c",
				'"$@"; status=$?; times >&2; exit $status',
				"k6",
				k6,
				"run",
				"--quiet",
				"--summary-export",
				summaryFile,
				"-e",
				`SCENARIO=${JSON.stringify(scenario)}`,
				"-e",
				`TARGET_URL=${url}`,
				"-e",
				`BODIES_FILE=${bodiesFile}`,
				script,
			],
			{ encoding: "utf8" },
		);
		if (run.status !== 0) throw new Error(`k6 failed: ${run.stderr}`);
		return {
			...fromK6Summary(
				JSON.parse(await readFile(summaryFile, "utf8")) as K6Summary,
				scenario,
				(performance.now() - started) / 1000,
			),
			driver_cpu_s: childCpuSeconds(run.stderr),
		};
	} finally {
		await rm(dir, { recursive: true, force: true });
	}
}
