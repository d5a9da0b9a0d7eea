import type { TailEvidence } from "./measure/server-evidence.ts";
import type { LatencySummary, LoadResult, Stat } from "./types.ts";

/** Median with min, max and every round (the report shows the spread, never a single run). */
export function toStat(rounds: readonly number[]): Stat {
	const finite = rounds.filter((x) => Number.isFinite(x));
	if (finite.length === 0)
		return {
			median: Number.NaN,
			min: Number.NaN,
			max: Number.NaN,
			rounds: [...rounds],
		};
	const sorted = [...finite].sort((a, b) => a - b);
	const mid = Math.floor(sorted.length / 2);
	const median =
		sorted.length % 2
			? (sorted[mid] as number)
			: ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
	return {
		median,
		min: sorted[0] as number,
		max: sorted.at(-1) as number,
		rounds: [...rounds],
	};
}

/** Summarises the rounds of one open-loop scenario. */
export function summarizeLatency(runs: readonly LoadResult[]): LatencySummary {
	return {
		rate_rps: runs[0]?.offered_rps ?? Number.NaN,
		p50_ms: toStat(runs.map((r) => r.p50_ms)),
		p90_ms: toStat(runs.map((r) => r.p90_ms)),
		p99_ms: toStat(runs.map((r) => r.p99_ms)),
		p999_ms: toStat(runs.map((r) => r.p999_ms)),
		errors: runs.reduce((n, r) => n + r.errors, 0),
		dropped: runs.reduce((n, r) => n + r.dropped, 0),
	};
}

/** Share of a run's arrivals that failed or were dropped by the driver. */
const lostShare = (r: LoadResult) =>
	(r.errors + r.dropped) / Math.max(1, r.requests + r.dropped);

const withinBudget = (r: LoadResult, sloMs: number) =>
	r.p99_ms <= sloMs && lostShare(r) <= 0.01;

/**
 * Capacity at the SLO from one round of the search: the highest achieved rate whose p99 stayed under the
 * objective with at most 1% errors and dropped arrivals. NaN when no rate did: a failed search is not a
 * capacity of 0 req/s ({@link capacitySearchFailure} says why).
 */
export function capacityUnderSlo(
	runs: readonly LoadResult[],
	sloMs: number,
): number {
	const ok = runs.filter((r) => withinBudget(r, sloMs));
	return ok.length === 0
		? Number.NaN
		: ok.reduce((best, r) => Math.max(best, r.achieved_rps), 0);
}

/** Why a round of the capacity search found no rate within the objective, or undefined if it found one. */
export function capacitySearchFailure(
	runs: readonly LoadResult[],
	sloMs: number,
): string | undefined {
	if (runs.some((r) => withinBudget(r, sloMs))) return undefined;
	const lowest = [...runs].sort(
		(a, b) => (a.offered_rps ?? 0) - (b.offered_rps ?? 0),
	)[0];
	if (!lowest) return "capacity search: no run";
	const lost = lostShare(lowest);
	return `capacity search failed: no rate met p99 ≤ ${sloMs} ms with ≤ 1% errors and drops (lowest rate ${Math.round(lowest.offered_rps ?? 0)} req/s: p99 ${lowest.p99_ms.toFixed(1)} ms, ${(lost * 100).toFixed(1)}% lost)`;
}

/** The tail at one offered load of the capacity search, medians over rounds. */
export interface LoadPoint {
	/** Offered rate as a fraction of the target's closed-loop saturation. */
	fraction: number;
	rate_rps: number;
	p99_ms: number;
	/** Percent of arrivals that failed or were dropped. */
	lost_pct: number;
}

/**
 * p99 against offered load, from the capacity search's runs (`slo@<fraction>` in a target's raw runs),
 * lowest load first: where on the load axis a tail target holds, beside the one-number capacity.
 */
export function tailByLoad(
	raw: Readonly<Record<string, readonly LoadResult[]>> | undefined,
): LoadPoint[] {
	return Object.entries(raw ?? {})
		.filter(([key, runs]) => key.startsWith("slo@") && runs.length > 0)
		.map(([key, runs]) => ({
			fraction: Number(key.slice("slo@".length)),
			rate_rps: toStat(runs.map((r) => r.offered_rps ?? Number.NaN)).median,
			p99_ms: toStat(runs.map((r) => r.p99_ms)).median,
			lost_pct: toStat(runs.map((r) => 100 * lostShare(r))).median,
		}))
		.sort((a, b) => a.fraction - b.fraction);
}

/** CPU microseconds of the target per successful request of a run (NaN when none succeeded). */
export function cpuUsPerRequest(run: LoadResult): number {
	const ok = run.requests - run.errors;
	return ok > 0 ? (run.target_cpu_s * 1e6) / ok : Number.NaN;
}

/** CPU seconds per 1,000 predictions of a run. */
export function cpuPer1000(run: LoadResult, rowsPerRequest: number): number {
	const predictions = (run.requests - run.errors) * rowsPerRequest;
	return predictions > 0 ? (1000 * run.target_cpu_s) / predictions : Number.NaN;
}

/** Each field of the tail evidence over rounds, as a median with its spread. */
export function summarizeTail(
	rounds: TailEvidence[],
): Record<keyof TailEvidence, Stat> {
	const keys = Object.keys(rounds[0] as TailEvidence) as (keyof TailEvidence)[];
	return Object.fromEntries(
		keys.map((k) => [k, toStat(rounds.map((r) => r[k]))]),
	) as Record<keyof TailEvidence, Stat>;
}
