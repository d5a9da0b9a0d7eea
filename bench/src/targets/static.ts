import { spawnSync } from "node:child_process";
import { join } from "node:path";
import {
	compareToGolden,
	type GoldenCase,
	loadBundle,
	readGoldenSet,
} from "@mdp/core";
import {
	buildExecutable,
	buildModule,
	createPredictorFromEmbedded,
} from "@mdp/static";
import { networkCutter, OFFLINE_NOT_MEASURED } from "../measure/offline.ts";
import type { BenchTarget, ColdStart, TargetContext } from "../types.ts";

interface BinaryRun {
	stdout: string;
	wallMs: number;
	phases?: Record<string, number>;
	usage?: { cpu_s: number; max_rss_mb: number };
}

/**
 * The static pattern: the library in-process (latency and throughput of the application's own calls) and
 * the single executable (cold start by phase, footprint, offline run, records/s on 10,000 records).
 */
export function createStaticTarget(options: {
	coldStartRuns: number;
}): BenchTarget {
	let binary = "";
	let golden: GoldenCase[] = [];

	function runBinary(
		ctx: TargetContext,
		input: string,
		wrapper: string[] = [],
	): BinaryRun {
		const started = performance.now();
		const [command = binary, ...args] = [
			...ctx.serverWrapper,
			...wrapper,
			binary,
		];
		const result = spawnSync(command, args, {
			input,
			encoding: "utf8",
			maxBuffer: 1 << 28,
			env: {
				PATH: "/usr/bin:/bin",
				HOME: ctx.workDir,
				MDP_CACHE_DIR: join(ctx.workDir, "mdp-cache"),
				MDP_STARTUP_PHASES: "1",
			},
		});
		const wallMs = performance.now() - started;
		if (result.status !== 0)
			throw new Error(
				`the executable failed (${result.status}): ${result.stderr}`,
			);
		const json = (key: string) => {
			const line = result.stderr
				.split("\n")
				.find((l) => l.startsWith(`{"${key}"`));
			return line ? JSON.parse(line)[key] : undefined;
		};
		return {
			stdout: result.stdout,
			wallMs,
			phases: json("phases"),
			usage: json("usage"),
		};
	}

	const goldenInput = () =>
		golden
			.map((g) => JSON.stringify({ id: g.id, record: g.record }))
			.join("\n");
	const goldenMismatches = (stdout: string) =>
		compareToGolden(
			golden,
			stdout
				.trim()
				.split("\n")
				.map((l) => JSON.parse(l)),
		).length;

	return {
		id: "static",
		pattern: "static",
		title: "static: library in-process, single executable",
		async build(ctx) {
			golden = await readGoldenSet(join(ctx.bundle, "golden.jsonl"));
			ctx.progress("static: building the single executable");
			const exe = await buildExecutable({
				bundle: ctx.bundle,
				out: join(ctx.workDir, "static", "model"),
				onProgress: (s) => ctx.progress(`static: ${s}`),
			});
			binary = exe.path;
			const module = await buildModule({
				bundle: ctx.bundle,
				out: join(ctx.workDir, "static", "model.mjs"),
			});
			return [exe, module];
		},
		async deploy(ctx) {
			const { manifest, modelBytes } = await loadBundle(ctx.bundle);
			const predictor = await createPredictorFromEmbedded({
				manifest,
				modelBase64: Buffer.from(modelBytes).toString("base64"),
			});
			return {
				endpoint: {
					kind: "in-process",
					predict: (records) => predictor.predict(records),
				},
				// In-process: the application is this process, which also runs the load driver.
				pids: () => [process.pid],
				teardown: () => predictor.close(),
			};
		},
		async coldStart(ctx) {
			const one = `${JSON.stringify(golden[0]?.record)}\n`;
			runBinary(ctx, one); // first run extracts the native runtime; cold start is measured warm-cache
			const runs: ColdStart[] = [];
			for (let i = 0; i < options.coldStartRuns; i++) {
				const run = runBinary(ctx, one);
				runs.push({
					total_ms: run.wallMs,
					phases: toDurations(run.phases ?? {}, run.wallMs),
				});
			}
			return medianColdStart(runs);
		},
		async offline(ctx) {
			const unshare = networkCutter();
			if (!unshare) return OFFLINE_NOT_MEASURED;
			const run = runBinary(ctx, goldenInput(), [unshare, "-n"]);
			const mismatches = goldenMismatches(run.stdout);
			return {
				works: mismatches === 0,
				method: `single executable under unshare -n (no network at all): golden set ${mismatches === 0 ? "reproduced" : `${mismatches} mismatches`}`,
			};
		},
		async extras(ctx) {
			const records = Array.from({ length: 10_000 }, (_, i) =>
				JSON.stringify(golden[i % golden.length]?.record),
			).join("\n");
			const start = runBinary(ctx, `${JSON.stringify(golden[0]?.record)}\n`);
			const big = runBinary(ctx, records);
			const parity = runBinary(ctx, goldenInput());
			return {
				executable_records_per_s_10k: Math.round(
					10_000 / ((big.wallMs - start.wallMs) / 1000),
				),
				executable_run_10k_ms: Math.round(big.wallMs),
				executable_cpu_s_per_1000:
					((big.usage?.cpu_s ?? Number.NaN) - (start.usage?.cpu_s ?? 0)) / 10,
				executable_peak_rss_mb: Math.round(big.usage?.max_rss_mb ?? Number.NaN),
				executable_golden_mismatches: goldenMismatches(parity.stdout),
			};
		},
	};
}

/**
 * The executable reports when each phase ended (ms since the process started); the report wants how long
 * each took: Node and SEA start-up until the script runs, loading the native runtime, creating the session,
 * the first prediction, and the rest (writing, exit) up to the wall time seen from outside.
 */
export function toDurations(
	ends: Record<string, number>,
	wallMs: number,
): Record<string, number> {
	const {
		script = Number.NaN,
		runtime = Number.NaN,
		session = Number.NaN,
		firstPrediction = Number.NaN,
	} = ends;
	return {
		node_start: script,
		load_runtime: runtime - script,
		create_session: session - runtime,
		first_prediction: firstPrediction - session,
		exit: wallMs - firstPrediction,
	};
}

/** Median of each phase and of the total over runs (phases as reported by each run). */
export function medianColdStart(
	runs: readonly ColdStart[],
): ColdStart & { runs: ColdStart[] } {
	const median = (xs: number[]) =>
		[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
	const names = [...new Set(runs.flatMap((r) => Object.keys(r.phases)))];
	return {
		total_ms: median(runs.map((r) => r.total_ms)),
		phases: Object.fromEntries(
			names.map((n) => [n, median(runs.map((r) => r.phases[n] ?? Number.NaN))]),
		),
		runs: [...runs],
	};
}
