import { advise, TYPICAL_PROFILES } from "./advise.ts";
import { checkClaims } from "./claims.ts";
import { readPrices } from "./measure/cost.ts";
import { PATTERN_IDS } from "./patterns.ts";
import { SCENARIOS } from "./scenarios.ts";
import { tailByLoad } from "./summarize.ts";
import type { BenchResults, DriverFloor, Stat, TargetResult } from "./types.ts";

/** A number with its spread over rounds: `12.3 (11.9–13.0)`. */
export function formatStat(stat: Stat | undefined, digits = 2): string {
	if (!stat || !Number.isFinite(stat.median)) return "n/a";
	if (stat.rounds.length <= 1 || stat.min === stat.max)
		return stat.median.toFixed(digits);
	return `${stat.median.toFixed(digits)} (${stat.min.toFixed(digits)}–${stat.max.toFixed(digits)})`;
}

const mb = (bytes: number) =>
	bytes >= 1e6
		? `${(bytes / 1e6).toFixed(1)} MB`
		: `${(bytes / 1e3).toFixed(1)} KB`;

/** The comparison table: measures as rows, targets and ceilings as columns. Pure. */
export function comparisonRows(results: BenchResults): {
	header: string[];
	rows: string[][];
} {
	const cell = (
		t: TargetResult | undefined,
		value: (t: TargetResult) => string,
	) =>
		!t
			? "not in this run"
			: t.not_measured
				? `not measured: ${t.not_measured}`
				: value(t);
	const targets = PATTERN_IDS.map((id) => results.targets[id]);
	const { inference, http } = results.ceilings;
	const row = (
		name: string,
		value: (t: TargetResult) => string,
		ceilInference = "—",
		ceilHttp = "—",
	) => [name, ...targets.map((t) => cell(t, value)), ceilInference, ceilHttp];
	const light =
		results.targets.static?.latency?.light.rate_rps ??
		results.targets.http?.latency?.light.rate_rps;
	return {
		header: [
			"measure",
			...PATTERN_IDS,
			"ceiling: inference (native session run)",
			"ceiling: HTTP (bare Hono)",
		],
		rows: [
			row("parity on the golden set", (t) =>
				t.parity
					? `${t.parity.checked - t.parity.mismatches}/${t.parity.checked} ${t.parity.tolerance === 0 ? "bit-identical" : `within ${t.parity.tolerance}`}`
					: "n/a",
			),
			row(
				`latency at ${light ?? "?"} req/s: p50 / p99 ms`,
				(t) =>
					`${formatStat(t.latency?.light.p50_ms, 3)} / ${formatStat(t.latency?.light.p99_ms, 3)}`,
				`batch 1: ${formatStat(scaleStat(inference.batch1.p50_us, 1e-3), 3)} / ${formatStat(scaleStat(inference.batch1.p99_us, 1e-3), 3)}`,
			),
			row(
				"latency at 70% of saturation: rate, p50 / p90 / p99 / p99.9 ms",
				(t) =>
					`${t.latency?.load70.rate_rps ?? "?"} req/s: ${formatStat(t.latency?.load70.p50_ms)} / ${formatStat(t.latency?.load70.p90_ms)} / ${formatStat(t.latency?.load70.p99_ms)} / ${formatStat(t.latency?.load70.p999_ms)}`,
			),
			row(
				"at 70%, from the server's /metrics: app p99 (bucket) / event-loop delay p99 / GC ms per s (mean scavenge ms)",
				(t) =>
					t.tail
						? `≤ ${formatStat(t.tail.server_p99_ms_le)} / ${formatStat(t.tail.event_loop_delay_p99_ms)} / ${formatStat(t.tail.gc_ms_per_s)} (${formatStat(t.tail.minor_gc_mean_ms)})`
						: "n/a",
			),
			row(
				"saturation throughput (predictions/s, 1 record per request)",
				(t) => formatStat(t.throughput?.saturation_rps, 0),
				`batch 1: ${formatStat(inference.batch1.runs_per_s, 0)}; batch 32: ${formatStat(inference.batch32.rows_per_s, 0)} rows/s`,
				formatStat(http.saturation_rps, 0),
			),
			row("rows/s with 32 records per request (8 concurrent)", (t) =>
				formatStat(t.throughput?.batch32_rows_per_s, 0),
			),
			row("saturation with OIP infer (1 record per request)", (t) =>
				t.throughput?.oip_infer_rps
					? formatStat(t.throughput.oip_infer_rps, 0)
					: "— (in-process)",
			),
			row(
				"max throughput with p99 under the objective",
				(t) =>
					`${formatStat(t.throughput?.max_rps_under_slo, 0)} req/s (p99 ≤ ${t.throughput?.slo_p99_ms} ms)`,
			),
			row(
				"p99 ms by offered load (% of saturation: p99, arrivals lost if over 1%)",
				(t) =>
					tailByLoad(t.raw)
						.map(
							(p) =>
								`${Math.round(p.fraction * 100)}%: ${p.p99_ms.toFixed(1)}${p.lost_pct > 1 ? ` (${p.lost_pct.toFixed(0)}% lost)` : ""}`,
						)
						.join(" · ") || "n/a",
			),
			row(
				"saturation vs HTTP ceiling",
				(t) =>
					t.ratios
						? `${t.ratios.saturation_vs_http_ceiling?.toFixed(2)}×`
						: "n/a",
				"",
				"1.00×",
			),
			row(
				"cold start: total ms (phases)",
				(t) =>
					`${formatStat(t.coldStart?.total_ms, 0)} (${Object.entries(
						t.coldStart?.phases ?? {},
					)
						.map(([k, v]) => `${k} ${formatStat(v, 0)}`)
						.join(", ")})`,
			),
			row(
				"peak memory (RSS, all processes)",
				(t) => `${t.footprint?.peak_rss_mb ?? "n/a"} MB`,
			),
			row(
				"artifact size",
				(t) =>
					(t.footprint?.artifacts ?? [])
						.map((a) => `${a.kind} ${mb(a.bytes)}`)
						.join("; ") || "n/a",
			),
			row("CPU seconds per 1,000 predictions", (t) =>
				formatStat(t.footprint?.cpu_s_per_1000, 3),
			),
			row(
				`CPU per request at ${SCENARIOS.cpu.rate.toLocaleString("en-US")} req/s (µs, every unit)`,
				(t) =>
					t.footprint?.cpu_us_per_request
						? `${formatStat(t.footprint.cpu_us_per_request, 0)} (+${(t.ratios?.cpu_us_per_request_above_http_ceiling ?? Number.NaN).toFixed(0)} over the HTTP ceiling)`
						: "in-process: n/a",
				"—",
				formatStat(http.cpu_us_per_request, 0),
			),
			row("works offline", (t) =>
				t.offline
					? `${t.offline.works === null ? "not measured" : t.offline.works ? "yes" : "no"}: ${t.offline.method}`
					: "n/a",
			),
			row("cost per million predictions", (t) =>
				t.cost ? `$${t.cost.usd_per_million_predictions.toFixed(4)}` : "n/a",
			),
		],
	};
}

function scaleStat(stat: Stat, factor: number): Stat {
	return {
		median: stat.median * factor,
		min: stat.min * factor,
		max: stat.max * factor,
		rounds: stat.rounds.map((x) => x * factor),
	};
}

function table(header: string[], rows: string[][]): string {
	const esc = (s: string) => s.replaceAll("|", "\\|");
	return [
		`| ${header.map(esc).join(" | ")} |`,
		`|${header.map(() => "---").join("|")}|`,
		...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
	].join("\n");
}

/** The measures the verdict compares patterns on: how to read each, and which way is better. */
const VERDICT_MEASURES: {
	name: string;
	value: (t: TargetResult) => number | undefined;
	lowerIsBetter: boolean;
	format: (x: number) => string;
}[] = [
	{
		name: "latency",
		value: (t) => t.latency?.light.p50_ms.median,
		lowerIsBetter: true,
		format: (x) => `${x.toFixed(2)} ms p50 at a light rate`,
	},
	{
		name: "tail under load",
		value: (t) => t.latency?.load70.p99_ms.median,
		lowerIsBetter: true,
		format: (x) => `${x.toFixed(1)} ms p99 at 70% load`,
	},
	{
		name: "throughput",
		value: (t) => t.throughput?.saturation_rps.median,
		lowerIsBetter: false,
		format: (x) => `${Math.round(x).toLocaleString("en-US")} predictions/s`,
	},
	{
		name: "cold start",
		value: (t) => t.coldStart?.total_ms.median,
		lowerIsBetter: true,
		format: (x) => `${x.toFixed(0)} ms to the first prediction`,
	},
	{
		name: "memory",
		value: (t) => t.footprint?.peak_rss_mb,
		lowerIsBetter: true,
		format: (x) => `${x.toFixed(0)} MB peak`,
	},
	{
		name: "cost",
		value: (t) => t.cost?.usd_per_million_predictions,
		lowerIsBetter: true,
		format: (x) => `$${x.toFixed(4)} per million predictions`,
	},
];

/** One paragraph per measured pattern: where it is the best and the worst of this run, with the figures. */
export function verdicts(results: BenchResults): string[] {
	const measured = PATTERN_IDS.flatMap((id) => {
		const t = results.targets[id];
		return t && !t.not_measured ? [[id, t] as const] : [];
	});
	if (measured.length < 2) return [];
	return measured.map(([id, t]) => {
		const best: string[] = [];
		const worst: string[] = [];
		for (const m of VERDICT_MEASURES) {
			const mine = m.value(t);
			const all = measured
				.map(([, o]) => m.value(o))
				.filter((x): x is number => x !== undefined && Number.isFinite(x));
			if (mine === undefined || !Number.isFinite(mine) || all.length < 2)
				continue;
			const top = m.lowerIsBetter ? Math.min(...all) : Math.max(...all);
			const bottom = m.lowerIsBetter ? Math.max(...all) : Math.min(...all);
			if (mine === top) best.push(`${m.name} (${m.format(mine)})`);
			else if (mine === bottom) worst.push(`${m.name} (${m.format(mine)})`);
		}
		const offline =
			t.offline?.works === true ? " It works with the network cut." : "";
		return `- **${id}** is ${best.length ? `the best of this run on ${best.join(", ")}` : "never the best of this run"}${worst.length ? `, and the worst on ${worst.join(", ")}` : ""}.${offline}`;
	});
}

/**
 * The kill-under-load table: one row per replicated target that ran it. Pure.
 *
 * @example
 * faultRows(results).rows[0]; // ["vm", "2", "600 req/s for 10 s, kill at 3 s", "0 of 6,000", …]
 */
export function faultRows(results: BenchResults): {
	header: string[];
	rows: string[][];
} {
	const rows = PATTERN_IDS.flatMap((id) => {
		const k = results.targets[id]?.faults?.kill_instance;
		if (!k) return [];
		return [
			[
				id,
				String(k.instances),
				`${k.offered_rps} req/s open loop for ${k.duration_s} s, SIGKILL at ${k.kill_at_s} s`,
				`${k.failed} of ${k.requests.toLocaleString("en-US")}${k.dropped ? ` (${k.dropped} dropped)` : ""}`,
				`${k.p50_ms.toFixed(2)} / ${k.p99_ms.toFixed(1)} / ${k.max_ms.toFixed(0)}`,
				k.recovered
					? `${k.recovery_ms} ms (${k.replacements} replaced)`
					: "not within the bound",
			],
		];
	});
	return {
		header: [
			"pattern",
			"instances",
			"load and fault",
			"failed requests",
			"p50 / p99 / max ms over the run",
			"kill → whole again",
		],
		rows,
	};
}

function faultSection(results: BenchResults): string[] {
	const { header, rows } = faultRows(results);
	if (rows.length === 0) return [];
	return [
		"## Faults under load",
		"",
		"One instance's process killed with SIGKILL while a bounded open-loop load runs on the fleet's endpoint; failed = non-2xx or no answer; whole again = every instance ready in the balancer's pool, the victim replaced (polled every 50 ms).",
		"",
		table(header, rows),
		"",
	];
}

/**
 * The driver's floor in one sentence: what the driver and a raw socket measured at the light rate on the
 * same server, and what the driver adds.
 *
 * @example
 * describeFloor(results.driver.floor); // "Driver floor: at 200 req/s on the bare HTTP ceiling …"
 */
export function describeFloor(floor: DriverFloor): string {
	return `Driver floor: at ${floor.rate_rps} req/s on ${floor.target}, alternated ${floor.slices}× ${floor.slice_s} s, the embedded driver measured p50 ${formatStat(floor.driver.p50_ms, 3)} / p99 ${formatStat(floor.driver.p99_ms, 2)} ms and one raw socket (the floor of any client here) ${formatStat(floor.reference.p50_ms, 3)} / ${formatStat(floor.reference.p99_ms, 2)} ms: the driver adds ${formatStat(floor.extra_p50_ms, 3)} ms at p50 and ${formatStat(floor.extra_p99_ms, 2)} ms at p99 (slice by slice). Light-load latencies near the floor are this machine's, not the pattern's.`;
}

/** report.md: the comparison table, the claims checked one by one, and how the numbers were taken. Pure. */
export function renderMarkdown(results: BenchResults): string {
	const { header, rows } = comparisonRows(results);
	const claims = checkClaims(results);
	const flags = Object.entries(results.targets).flatMap(([id, t]) =>
		(t.flags ?? []).map((f) => `- ${id}: ${f}`),
	);
	const m = results.machine;
	return [
		"# Deployment patterns compared",
		"",
		`Run of ${results.startedAt.slice(0, 16).replace("T", " ")} UTC (${results.mode}, ${results.rounds} round${results.rounds > 1 ? "s" : ""}, targets interleaved in rotating order; medians, with min–max over rounds in brackets).`,
		`Machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gb} GiB, Linux ${m.kernel}; steal ${m.steal_pct}%${m.high_steal ? " (HIGH: treat the figures with suspicion)" : ""}. Pinning: ${m.pinning}.`,
		`Driver: ${results.driver.name}; ${results.driver.note}. Node ${results.versions.node}, onnxruntime-node ${results.versions["onnxruntime-node"]}.`,
		...(results.driver.floor ? [describeFloor(results.driver.floor)] : []),
		"",
		...(() => {
			const v = verdicts(results);
			return v.length ? ["## Verdict", "", ...v, ""] : [];
		})(),
		table(header, rows),
		"",
		"## The claims, checked",
		"",
		...claims.map((c) => `- **${c.claim}**: ${c.verdict}. ${c.evidence}.`),
		"",
		...(results.sweep?.length
			? [
					"## Model-size sweep",
					"",
					"Synthetic models with the reference model's features (random weights), built and cold-started by each pattern: cold start to first prediction (median of 3) / what the pattern ships.",
					"",
					table(
						["model", ...Object.keys(results.sweep[0]?.targets ?? {})],
						results.sweep.map((p) => [
							`${(p.model_bytes / 1e6).toFixed(0)} MB`,
							...Object.keys(results.sweep?.[0]?.targets ?? {}).map((id) => {
								const r = p.targets[id];
								if (!r) return "n/a";
								return r.error
									? `not deployable: ${r.error}`
									: `${r.cold_start_ms.toFixed(0)} ms / ${mb(r.artifact_bytes)}`;
							}),
						]),
					),
					"",
				]
			: []),
		...faultSection(results),
		"## Advice for three typical workloads",
		"",
		"Ranked by `mdp-bench advise` from this run's figures (`pnpm mdp-bench advise --rate 50/s --p99 100ms --from DIR` for your own).",
		"",
		...TYPICAL_PROFILES.flatMap(({ name, profile }) => {
			const ranked = advise(results, profile, { prices: readPrices() });
			const best = ranked.find((a) => a.fits);
			return [
				`- **${name}**: ${best ? `${best.pattern} (about $${best.usdPerMonth.toFixed(2)}/month, p99 ${best.p99Ms.toFixed(2)} ms)` : "no measured pattern fits"}; then ${
					ranked
						.filter((a) => a !== best)
						.map(
							(a) =>
								`${a.pattern} ${a.fits ? `$${a.usdPerMonth.toFixed(2)}` : "does not fit"}`,
						)
						.join(", ") || "nothing else measured"
				}.`,
			];
		}),
		"",
		"## How to read this",
		"",
		"- Latency is timed from each request's intended send time (open loop), so queueing shows; saturation is a separate closed-loop run (32 concurrent requests) and is never mixed with latency figures.",
		"- `static` is measured in-process (the application calling the embedded library) for latency and throughput, and through its single executable for cold start, memory, CPU per prediction and the offline run.",
		"- `http` is one `mdp-core serve` process run from the bundled server (`buildServer`, adaptive batching on), the unit the vm, container and serverless patterns replicate; everything is on loopback, so the network cost is the HTTP stack alone.",
		`- Cost: ${results.prices.note} (prices of ${results.prices.date}).`,
		...(flags.length ? ["", "## Flags", "", ...flags] : []),
		"",
	].join("\n");
}
