import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	type Artifact,
	compareToGolden,
	type GoldenCase,
	loadBundle,
	loadOnnxRuntime,
	type Prediction,
	readGoldenSet,
} from "@mdp/core";
import { FLOOR_RATE, measureDriverFloor } from "./agree.ts";
import {
	createHttpCeilingTarget,
	measureInferenceCeiling,
	summarizeInferenceCeiling,
} from "./ceilings.ts";
import { measureKillUnderLoad } from "./faults.ts";
import { measureRun, ROWS } from "./load/measure-run.ts";
import { findK6 } from "./load/run-k6.ts";
import { costPerMillion, readPrices } from "./measure/cost.ts";
import {
	describeMachine,
	peakRssMb,
	pinDriver,
	readCpuCounters,
	stealPercent,
} from "./measure/proc.ts";
import {
	scrapeServer,
	type TailEvidence,
	tailEvidence,
} from "./measure/server-evidence.ts";
import { PATTERN_IDS, PATTERNS } from "./patterns.ts";
import {
	closedLoop,
	DEFAULT_SLO_MS,
	resolveScenario,
	SCENARIOS,
} from "./scenarios.ts";
import {
	capacitySearchFailure,
	capacityUnderSlo,
	cpuPer1000,
	cpuUsPerRequest,
	summarizeLatency,
	summarizeTail,
	toStat,
} from "./summarize.ts";
import { runModelSizeSweep } from "./sweep.ts";
import type {
	BenchResults,
	BenchTarget,
	ColdStart,
	DeployedTarget,
	DriverFloor,
	FleetUnderTest,
	KillUnderLoadResult,
	LoadResult,
	Scenario,
	TargetContext,
	TargetResult,
} from "./types.ts";

/** Options of {@link runBenchmark}. */
export interface RunBenchmarkOptions {
	/** A short run (about 2 minutes): 1 round, durations ×0.2, 3 cold starts. */
	quick: boolean;
	/** Patterns to measure (ids of `PATTERNS`); all by default. */
	patterns?: string[];
	bundle: string;
	sloMs?: number;
	/** Model sizes (bytes) of the model-size sweep; none skips it. */
	sweepSizes?: readonly number[];
	progress?: (message: string) => void;
}

const active = new Set<DeployedTarget>();
let workDirs: string[] = [];

/** Tears down every deployment and temp dir of a run in progress (Ctrl-C, failure). */
export async function cleanupBenchmark(): Promise<void> {
	for (const d of [...active]) {
		active.delete(d);
		await d.teardown().catch(() => {});
	}
	for (const dir of workDirs.splice(0))
		await rm(dir, { recursive: true, force: true });
}

/**
 * Runs the benchmark: builds and deploys each target, checks parity on the golden set, measures the
 * ceilings and every target over interleaved rounds (rotating order), cold starts, footprint and offline
 * capability, tears everything down, and returns results.json's content. Reporting is separate
 * (`renderMarkdown`, `renderHtml`), so a report can be re-rendered without re-running.
 */
export async function runBenchmark(
	options: RunBenchmarkOptions,
): Promise<BenchResults> {
	const progress = options.progress ?? (() => {});
	const scale = options.quick ? 0.2 : 1;
	const rounds = options.quick ? 1 : 3;
	const coldStartRuns = options.quick ? 3 : 15;
	const sloMs = options.sloMs ?? DEFAULT_SLO_MS;
	const startedAt = new Date().toISOString();
	const workDir = await mkdtemp(join(tmpdir(), "mdp-bench-"));
	workDirs.push(workDir);
	const machine = describeMachine();
	const pinning = pinDriver(machine.cores);
	const ctx: TargetContext = {
		bundle: options.bundle,
		workDir,
		serverWrapper: pinning.serverWrapper,
		progress,
	};
	const golden = await readGoldenSet(join(options.bundle, "golden.jsonl"));
	const workload = {
		golden,
		manifest: (await loadBundle(options.bundle)).manifest,
	};
	const wanted = options.patterns ?? PATTERN_IDS;
	const targets: BenchTarget[] = PATTERNS.filter((p) =>
		wanted.includes(p.id),
	).map((p) => p.create({ coldStartRuns }));
	const measured = targets.filter((t) => !t.unavailable);
	const ceilingHttp = createHttpCeilingTarget();
	const results: Record<string, TargetResult> = {};
	const raw: Record<string, Record<string, LoadResult[]>> = {};
	const artifacts: Record<string, Artifact[]> = {};
	const peakRss: Record<string, number> = {};
	const steal = readCpuCounters();
	const k6 = findK6();
	// The driver's floor at a light rate (against the bare HTTP server, round 1): a few alternated slices.
	const floorSlices = options.quick ? 2 : 4;
	const floorSliceS = options.quick ? 2 : 3;

	// A time estimate for the progress line: every measured target runs the same scenarios per round.
	const perTarget =
		(SCENARIOS.warmup.durationS +
			SCENARIOS.saturation.durationS +
			SCENARIOS.cpu.durationS +
			SCENARIOS.light.durationS +
			SCENARIOS.load70.durationS +
			SCENARIOS.slo.durationS * SCENARIOS.slo.rates.length +
			SCENARIOS.batch32.durationS) *
			scale +
		2;
	let remaining =
		rounds *
			(measured.length * perTarget +
				(SCENARIOS.warmup.durationS + SCENARIOS.saturation.durationS) * scale +
				4) +
		SCENARIOS.ramp.stages[0].durationS * scale * measured.length +
		floorSlices * floorSliceS * 2 +
		measured.filter((t) => t.deployFleet).length * (options.quick ? 8 : 13) +
		measured.length * coldStartRuns * 0.6;
	const step = (message: string, seconds: number) => {
		progress(`${message} (~${formatDuration(remaining)} left)`);
		remaining = Math.max(0, remaining - seconds);
	};

	try {
		for (const t of targets) {
			results[t.id] = {
				title: t.title,
				pattern: t.pattern,
				...(t.unavailable ? { not_measured: t.unavailable } : {}),
			};
			raw[t.id] = {};
		}
		raw[ceilingHttp.id] = {};
		for (const t of measured) {
			step(`${t.id}: building`, 0);
			artifacts[t.id] = await t.build(ctx);
		}
		for (const t of measured) {
			step(`${t.id}: parity on ${golden.length} golden cases`, 0);
			results[t.id] = {
				...results[t.id],
				parity: await checkParity(t, ctx, golden),
			} as TargetResult;
		}

		let floor: DriverFloor | undefined;
		const inference: Awaited<ReturnType<typeof measureInferenceCeiling>>[] = [];
		const saturation: Record<string, number[]> = {};
		const tails: Record<string, TailEvidence[]> = {};
		for (let round = 0; round < rounds; round++) {
			step(`round ${round + 1}/${rounds}: inference ceiling`, 1);
			inference.push(
				await measureInferenceCeiling(
					options.bundle,
					options.quick ? 5_000 : 20_000,
				),
			);
			const order = [ceilingHttp, ...measured];
			const rotated = order.map(
				(_, i) => order[(i + round) % order.length] as BenchTarget,
			);
			for (const t of rotated) {
				const log = (scenario: Scenario, r: LoadResult) => {
					const list = raw[t.id] as Record<string, LoadResult[]>;
					list[scenario.id] = [...(list[scenario.id] ?? []), r];
				};
				const deployed = await t.deploy(ctx);
				active.add(deployed);
				try {
					const run = async (scenario: Scenario) => {
						step(
							`round ${round + 1}/${rounds}: ${t.id}: ${scenario.id} (${describeScenario(scenario)})`,
							scenario.executor === "constant-vus"
								? scenario.durationS
								: scenario.executor === "constant-arrival-rate"
									? scenario.durationS
									: 0,
						);
						const result = await measureRun({
							scenario,
							endpoint: deployed.endpoint,
							workload,
							targetPids: deployed.pids(),
							k6,
						});
						log(scenario, result);
						return result;
					};
					await measureRun({
						scenario: closedLoop("warmup", SCENARIOS.warmup, scale),
						endpoint: deployed.endpoint,
						workload,
						targetPids: [],
					});
					const sat = await run(
						closedLoop("saturation", SCENARIOS.saturation, scale),
					);
					saturation[t.id] = [...(saturation[t.id] ?? []), sat.achieved_rps];
					if (deployed.endpoint.kind === "http")
						await run(
							resolveScenario("cpu", SCENARIOS.cpu, sat.achieved_rps, scale),
						);
					if (
						t === ceilingHttp &&
						round === 0 &&
						deployed.endpoint.kind === "http"
					) {
						step(
							`driver floor: embedded driver and a raw socket alternated at ${FLOOR_RATE} req/s on the bare HTTP server`,
							floorSlices * floorSliceS * 2,
						);
						floor = await measureDriverFloor({
							url: deployed.endpoint.url,
							workload,
							target: "the bare HTTP ceiling (mdp-core serve --bare)",
							slices: floorSlices,
							sliceS: floorSliceS,
						});
					}
					if (t !== ceilingHttp) {
						await run(
							resolveScenario(
								"light",
								SCENARIOS.light,
								sat.achieved_rps,
								scale,
							),
						);
						// One server answering directly: its /metrics around the run say where the tail comes from.
						const server =
							deployed.endpoint.kind === "http" && t.pattern === "http"
								? deployed.endpoint.url
								: undefined;
						const before = server ? await scrapeServer(server) : undefined;
						const load70 = await run(
							resolveScenario(
								"load70",
								SCENARIOS.load70,
								sat.achieved_rps,
								scale,
							),
						);
						const after = server ? await scrapeServer(server) : undefined;
						if (before && after)
							tails[t.id] = [
								...(tails[t.id] ?? []),
								tailEvidence(
									before,
									after,
									load70.requests / Math.max(1, load70.achieved_rps),
								),
							];
						for (const rate of SCENARIOS.slo.rates) {
							await run(
								resolveScenario(
									`slo@${rate.ofSaturation}`,
									{ ...SCENARIOS.slo, rate },
									sat.achieved_rps,
									scale,
								),
							);
						}
						await run(closedLoop("batch32", SCENARIOS.batch32, scale));
						if (deployed.endpoint.kind === "http")
							await run(closedLoop("infer", SCENARIOS.infer, scale));
						if (round === 0) {
							const ramp = SCENARIOS.ramp;
							await run({
								id: "ramp",
								executor: "ramping-arrival-rate",
								startRate: Math.round(ramp.startFraction * sat.achieved_rps),
								stages: ramp.stages.map((s) => ({
									target: Math.round(s.toFraction * sat.achieved_rps),
									durationS: Math.max(2, s.durationS * scale),
								})),
								payload: ramp.payload,
								maxVUs: ramp.maxVUs,
							});
						}
					}
					peakRss[t.id] = Math.max(
						peakRss[t.id] ?? 0,
						peakRssMb(deployed.pids().filter((p) => p !== process.pid)),
					);
				} finally {
					active.delete(deployed);
					await deployed.teardown();
				}
			}
		}

		const prices = readPrices();
		for (const t of measured) {
			step(
				`${t.id}: cold start (${coldStartRuns} fresh starts)`,
				coldStartRuns * 0.6,
			);
			const cold = (await t.coldStart(ctx)) as ColdStart & {
				runs?: ColdStart[];
			};
			step(`${t.id}: offline check`, 0);
			const offline = await t.offline(ctx);
			const extras = t.extras ? await t.extras(ctx) : undefined;
			const fault = t.deployFleet
				? await killUnderLoad(t, ctx, {
						workload,
						saturationRps: toStat(saturation[t.id] ?? []).median,
						quick: options.quick,
						step,
					})
				: undefined;
			const runs = raw[t.id] as Record<string, LoadResult[]>;
			const sloRuns = Array.from({ length: rounds }, (_, r) =>
				Object.entries(runs)
					.filter(([k]) => k.startsWith("slo@"))
					.map(([, v]) => v[r] as LoadResult)
					.filter(Boolean),
			);
			const sloRounds = sloRuns.map((r) => capacityUnderSlo(r, sloMs));
			const sloFailures = sloRuns.flatMap((r, i) => {
				const why = capacitySearchFailure(r, sloMs);
				return why ? [`round ${i + 1}: ${why}`] : [];
			});
			const sat = toStat(saturation[t.id] ?? []);
			const coldRuns = cold.runs ?? [cold];
			const footprintCpu = toStat(
				(runs.saturation ?? []).map((r) => cpuPer1000(r, ROWS["predict-1"])),
			);
			results[t.id] = {
				...(results[t.id] as TargetResult),
				latency: {
					light: summarizeLatency(runs.light ?? []),
					load70: summarizeLatency(runs.load70 ?? []),
				},
				...(tails[t.id]?.length
					? { tail: summarizeTail(tails[t.id] as TailEvidence[]) }
					: {}),
				throughput: {
					saturation_rps: sat,
					max_rps_under_slo: toStat(sloRounds),
					slo_p99_ms: sloMs,
					batch32_rows_per_s: toStat(
						(runs.batch32 ?? []).map(
							(r) => r.achieved_rps * ROWS["predict-32"],
						),
					),
					...(runs.infer
						? { oip_infer_rps: toStat(runs.infer.map((r) => r.achieved_rps)) }
						: {}),
				},
				coldStart: {
					total_ms: toStat(coldRuns.map((r) => r.total_ms)),
					phases: Object.fromEntries(
						Object.keys(cold.phases).map((p) => [
							p,
							toStat(coldRuns.map((r) => r.phases[p] ?? Number.NaN)),
						]),
					),
					runs: coldRuns.length,
				},
				footprint: {
					peak_rss_mb:
						t.id === "static"
							? Number(extras?.executable_peak_rss_mb)
							: Math.round(peakRss[t.id] ?? Number.NaN),
					artifact_bytes: (artifacts[t.id] ?? [])[0]?.bytes ?? 0,
					artifacts: artifacts[t.id] ?? [],
					cpu_s_per_1000:
						t.id === "static"
							? toStat([Number(extras?.executable_cpu_s_per_1000)])
							: footprintCpu,
					...(runs.cpu
						? { cpu_us_per_request: toStat(runs.cpu.map(cpuUsPerRequest)) }
						: {}),
				},
				offline,
				cost: costPerMillion(t.pattern, prices, {
					predictionsPerSecond: sat.median,
					warmP50Ms: summarizeLatency(runs.light ?? []).p50_ms.median,
					instances: Number(extras?.replicas ?? 1),
				}),
				...(extras ? { extras } : {}),
				...(fault?.result ? { faults: { kill_instance: fault.result } } : {}),
				raw: runs,
				flags: [
					...driverFlags(runs, t.id === "static"),
					...sloFailures,
					...(fault?.error ? [fault.error] : []),
				],
			};
		}

		const ceilings = {
			inference: summarizeInferenceCeiling(inference),
			http: {
				saturation_rps: toStat(saturation[ceilingHttp.id] ?? []),
				p50_ms: toStat(
					(raw[ceilingHttp.id]?.saturation ?? []).map((r) => r.p50_ms),
				),
				p99_ms: toStat(
					(raw[ceilingHttp.id]?.saturation ?? []).map((r) => r.p99_ms),
				),
				cpu_us_per_request: toStat(
					(raw[ceilingHttp.id]?.cpu ?? []).map(cpuUsPerRequest),
				),
			},
		};
		for (const t of measured) {
			const r = results[t.id] as TargetResult;
			const satRps = r.throughput?.saturation_rps.median ?? Number.NaN;
			if (
				t.pattern !== "static" &&
				satRps >= 0.95 * ceilings.http.saturation_rps.median
			) {
				r.flags = [
					...(r.flags ?? []),
					"saturation at or above the bare HTTP ceiling measured by the same driver: the driver or the machine, not the target, is the limit of this figure",
				];
			}
			r.ratios = {
				saturation_vs_http_ceiling:
					satRps / ceilings.http.saturation_rps.median,
				saturation_vs_inference_ceiling_batch1:
					satRps / ceilings.inference.batch1.runs_per_s.median,
				...(r.footprint?.cpu_us_per_request
					? {
							cpu_us_per_request_above_http_ceiling:
								r.footprint.cpu_us_per_request.median -
								(ceilings.http.cpu_us_per_request?.median ?? Number.NaN),
						}
					: {}),
			};
		}
		const sweep = options.sweepSizes?.length
			? await runModelSizeSweep({
					ctx,
					patterns: measured.map((t) => t.id),
					sizes: options.sweepSizes,
				})
			: undefined;
		const stealPct = stealPercent(steal, readCpuCounters());
		return {
			schemaVersion: 1,
			startedAt,
			finishedAt: new Date().toISOString(),
			mode: options.quick ? "quick" : "full",
			rounds,
			machine: {
				...machine,
				steal_pct: Number(stealPct.toFixed(2)),
				high_steal: stealPct > 5,
				pinning: pinning.description,
			},
			driver: {
				name: k6
					? `k6 (${k6}) for HTTP targets, embedded driver in-process`
					: "embedded open-loop driver (Node, HDR histograms)",
				version: "1",
				note: k6
					? "k6 ran bench/k6/scenario.ts with the same scenarios"
					: "k6 not installed (not in npm or Debian); bench/k6 holds the scripts for machines that have it",
				...(floor ? { floor } : {}),
			},
			versions: await versions(),
			ceilings,
			targets: results,
			prices: { date: prices.date, note: prices.note },
			...(sweep ? { sweep } : {}),
		};
	} finally {
		for (const t of targets) await t.dispose?.().catch(() => {});
		await cleanupBenchmark();
		workDirs = workDirs.filter((d) => d !== workDir);
	}
}

/**
 * The kill-under-load scenario of a replicated target: a fresh fleet, an open-loop load at 30% of the
 * target's measured saturation (50 to 2,000 req/s), one instance killed with SIGKILL, the fleet torn down
 * after. Bounded: 5 s of load (10 s in a full run) and at most 30 s of waiting for it to heal. A failure
 * of the scenario itself is returned as a flag, not thrown.
 */
async function killUnderLoad(
	t: BenchTarget,
	ctx: TargetContext,
	options: {
		workload: Parameters<typeof measureKillUnderLoad>[0]["workload"];
		saturationRps: number;
		quick: boolean;
		step: (message: string, seconds: number) => void;
	},
): Promise<{ result?: KillUnderLoadResult; error?: string }> {
	if (!t.deployFleet) return {};
	const rate = Number.isFinite(options.saturationRps)
		? Math.min(2000, Math.max(50, Math.round(0.3 * options.saturationRps)))
		: 200;
	const durationS = options.quick ? 5 : 10;
	const killAtS = options.quick ? 1.5 : 3;
	options.step(
		`${t.id}: kill one instance (SIGKILL) under ${rate} req/s for ${durationS} s`,
		durationS + 3,
	);
	let fleet: FleetUnderTest | undefined;
	try {
		fleet = await t.deployFleet(ctx);
		active.add(fleet);
		return {
			result: await measureKillUnderLoad({
				fleet,
				workload: options.workload,
				rate,
				durationS,
				killAtS,
			}),
		};
	} catch (error) {
		return {
			error: `kill under load not measured: ${(error as Error).message}`,
		};
	} finally {
		if (fleet) {
			active.delete(fleet);
			await fleet.teardown();
		}
	}
}

async function checkParity(
	t: BenchTarget,
	ctx: TargetContext,
	golden: GoldenCase[],
) {
	const deployed = await t.deploy(ctx);
	active.add(deployed);
	try {
		let predictions: Prediction[];
		if (deployed.endpoint.kind === "in-process")
			predictions = (await deployed.endpoint.predict(
				golden.map((g) => g.record),
			)) as Prediction[];
		else {
			const res = await fetch(new URL("/predict", deployed.endpoint.url), {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ records: golden.map((g) => g.record) }),
			});
			predictions = ((await res.json()) as { predictions: Prediction[] })
				.predictions;
		}
		return {
			checked: golden.length,
			mismatches: compareToGolden(golden, predictions).length,
			tolerance: 0,
		};
	} finally {
		active.delete(deployed);
		await deployed.teardown();
	}
}

/**
 * Flags runs where the driver, not the target, may have been the limit: a closed-loop run whose driver
 * used more than 0.85 of a core (open-loop runs poll the clock between close arrivals by design, so for
 * them the self-check is the schedule lag), a p99 schedule lag over 5 ms, or steal over 5%. For an
 * in-process target the driver and the target are one process, so its CPU says nothing about the driver.
 */
function driverFlags(
	runs: Record<string, LoadResult[]>,
	inProcess: boolean,
): string[] {
	const flags: string[] = [];
	for (const [scenario, list] of Object.entries(runs)) {
		for (const r of list) {
			const seconds = r.requests / Math.max(r.achieved_rps, 1);
			// Whatever drives the load (the embedded driver or k6) near a full core limits the figure itself.
			if (!inProcess && r.driver_cpu_s / seconds > 0.85) {
				flags.push(
					`${scenario}: driver used ${(r.driver_cpu_s / seconds).toFixed(2)} of a core: the driver may be the limit`,
				);
			}
			if (r.schedule_lag_p99_ms > 5)
				flags.push(
					`${scenario}: driver schedule lag p99 ${r.schedule_lag_p99_ms.toFixed(1)} ms (latencies include it)`,
				);
			if (r.steal_pct > 5)
				flags.push(`${scenario}: steal ${r.steal_pct.toFixed(1)}%`);
		}
	}
	return [...new Set(flags)];
}

function describeScenario(s: Scenario): string {
	if (s.executor === "constant-vus") return `${s.vus} VUs, ${s.durationS} s`;
	if (s.executor === "constant-arrival-rate")
		return `${s.rate} req/s, ${s.durationS} s`;
	return `ramp ${s.startRate}→${s.stages.at(-1)?.target} req/s`;
}

function formatDuration(seconds: number): string {
	const s = Math.round(seconds);
	return s >= 60
		? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
		: `${s}s`;
}

async function versions(): Promise<Record<string, string>> {
	const ort = await loadOnnxRuntime();
	const core = JSON.parse(
		await readFile(
			new URL(import.meta.resolve("@mdp/core/package.json")),
			"utf8",
		),
	) as { version: string };
	return {
		node: process.version,
		"onnxruntime-node": ort.env.versions.node ?? "unknown",
		"@mdp/core": core.version,
	};
}
