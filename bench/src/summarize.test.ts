import { describe, expect, it } from "vitest";
import {
	capacitySearchFailure,
	capacityUnderSlo,
	cpuPer1000,
	cpuUsPerRequest,
	summarizeLatency,
	tailByLoad,
	toStat,
} from "./summarize.ts";
import type { LoadResult } from "./types.ts";

const run = (over: Partial<LoadResult>): LoadResult => ({
	scenario: "x",
	offered_rps: 100,
	achieved_rps: 100,
	requests: 1000,
	errors: 0,
	dropped: 0,
	p50_ms: 1,
	p90_ms: 2,
	p99_ms: 5,
	p999_ms: 9,
	max_ms: 12,
	schedule_lag_p99_ms: 0.1,
	target_cpu_s: 2,
	driver_cpu_s: 1,
	steal_pct: 0,
	...over,
});

describe("toStat", () => {
	it("gives median, min, max and keeps the rounds in order", () => {
		expect(toStat([3, 1, 2])).toEqual({
			median: 2,
			min: 1,
			max: 3,
			rounds: [3, 1, 2],
		});
		expect(toStat([4, 1, 2, 3]).median).toBe(2.5);
	});

	it("ignores non-finite rounds but keeps them visible", () => {
		expect(toStat([Number.NaN, 5])).toMatchObject({
			median: 5,
			rounds: [Number.NaN, 5],
		});
		expect(toStat([]).median).toBeNaN();
	});
});

describe("summarizeLatency", () => {
	it("takes medians per percentile over rounds and sums errors and drops", () => {
		const s = summarizeLatency([
			run({ p99_ms: 9, errors: 1 }),
			run({ p99_ms: 3, dropped: 2 }),
			run({ p99_ms: 5 }),
		]);
		expect(s.p99_ms.median).toBe(5);
		expect([s.errors, s.dropped, s.rate_rps]).toEqual([1, 2, 100]);
	});

	it("takes the median of every percentile field separately", () => {
		const s = summarizeLatency([
			run({ p50_ms: 1, p90_ms: 30, p99_ms: 300, p999_ms: 3000 }),
			run({ p50_ms: 3, p90_ms: 10, p99_ms: 100, p999_ms: 1000 }),
			run({ p50_ms: 2, p90_ms: 20, p99_ms: 200, p999_ms: 2000 }),
		]);
		expect([
			s.p50_ms.median,
			s.p90_ms.median,
			s.p99_ms.median,
			s.p999_ms.median,
		]).toEqual([2, 20, 200, 2000]);
		expect([s.p50_ms.min, s.p999_ms.max]).toEqual([1, 3000]);
	});
});

describe("capacityUnderSlo", () => {
	it("picks the highest achieved rate within the objective and the error budget", () => {
		const runs = [
			run({ achieved_rps: 900, p99_ms: 80 }),
			run({ achieved_rps: 700, p99_ms: 40, errors: 50 }),
			run({ achieved_rps: 500, p99_ms: 30 }),
			run({ achieved_rps: 300, p99_ms: 10 }),
		];
		expect(capacityUnderSlo(runs, 50)).toBe(500);
		expect(capacitySearchFailure(runs, 50)).toBeUndefined();
	});

	it("reports a search where no rate met the objective as failed, with why, not as 0 req/s", () => {
		const runs = [
			run({ offered_rps: 900, achieved_rps: 900, p99_ms: 80 }),
			run({ offered_rps: 300, achieved_rps: 300, p99_ms: 10, dropped: 50 }),
		];
		expect(capacityUnderSlo(runs, 50)).toBeNaN();
		expect(capacitySearchFailure(runs, 50)).toMatch(
			/failed: .*lowest rate 300 req\/s: p99 10\.0 ms, 4\.8% lost/,
		);
		expect(toStat([Number.NaN, 500, 700]).median).toBe(600);
	});
});

describe("cpuUsPerRequest", () => {
	it("divides the target's CPU by the requests that succeeded, in microseconds", () => {
		expect(
			cpuUsPerRequest(run({ target_cpu_s: 0.5, requests: 10_000, errors: 0 })),
		).toBe(50);
		expect(
			cpuUsPerRequest(
				run({ target_cpu_s: 0.5, requests: 10_000, errors: 5_000 }),
			),
		).toBe(100);
		expect(cpuUsPerRequest(run({ requests: 10, errors: 10 }))).toBeNaN();
	});
});

describe("cpuPer1000", () => {
	it("divides the target's CPU by successful predictions", () => {
		expect(
			cpuPer1000(run({ target_cpu_s: 2, requests: 1000, errors: 0 }), 1),
		).toBe(2);
		expect(
			cpuPer1000(run({ target_cpu_s: 2, requests: 1000, errors: 0 }), 32),
		).toBeCloseTo(0.0625);
	});
});

describe("tailByLoad", () => {
	it("gives p99 and lost arrivals per offered load, lowest load first, medians over rounds", () => {
		const raw = {
			saturation: [run({ p99_ms: 99 })],
			"slo@1": [
				run({ offered_rps: 1000, p99_ms: 40, requests: 900, dropped: 100 }),
				run({ offered_rps: 1000, p99_ms: 60, requests: 950, dropped: 50 }),
				run({ offered_rps: 1000, p99_ms: 50, requests: 800, dropped: 200 }),
			],
			"slo@0.3": [
				run({ offered_rps: 300, p99_ms: 2 }),
				run({ offered_rps: 300, p99_ms: 1 }),
				run({ offered_rps: 300, p99_ms: 3 }),
			],
			"slo@0.7": [],
		};
		expect(tailByLoad(raw)).toEqual([
			{ fraction: 0.3, rate_rps: 300, p99_ms: 2, lost_pct: 0 },
			{ fraction: 1, rate_rps: 1000, p99_ms: 50, lost_pct: 10 },
		]);
		expect(tailByLoad(undefined)).toEqual([]);
	});
});
