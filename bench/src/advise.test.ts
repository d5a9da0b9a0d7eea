import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { advise, monthlyCost, parseDurationMs, parseRate } from "./advise.ts";
import { readPrices } from "./measure/cost.ts";
import type { BenchResults, TargetResult } from "./types.ts";

const prices = readPrices();
const load = async () =>
	JSON.parse(
		await readFile(
			join(import.meta.dirname, "..", "test", "fixtures", "results.json"),
			"utf8",
		),
	) as BenchResults;

describe("advise", () => {
	it("puts static first for an offline need and rules out what needs the network", async () => {
		const advice = advise(
			await load(),
			{ rateRps: 50, p99Ms: 100, offline: true },
			{ prices },
		);
		expect(advice[0]).toMatchObject({ pattern: "static", fits: true });
		const http = advice.find((a) => a.pattern === "http");
		expect(http?.fits).toBe(false);
		expect(http?.reasons.join(" ")).toMatch(/needs the network/);
	});

	it("sizes units from the measured capacity and prices whole instances for http", async () => {
		const results = await load();
		const http = results.targets.http as TargetResult;
		const capacity = http.throughput?.max_rps_under_slo.median as number;
		const [advice] = advise(
			{ ...results, targets: { http } },
			{ rateRps: capacity * 2.5, p99Ms: 1000 },
			{ prices },
		);
		expect(advice?.units).toBe(3);
		expect(advice?.usdPerMonth).toBeCloseTo(
			3 * 730 * prices.vm.usd_per_hour,
			6,
		);
	});

	it("fails a pattern whose measured p99 is over the objective, quoting the figure", async () => {
		const advice = advise(
			await load(),
			{ rateRps: 50, p99Ms: 0.01 },
			{ prices },
		);
		expect(advice.every((a) => !a.fits)).toBe(true);
		expect(advice[0]?.reasons.join(" ")).toMatch(/over the 0.01 ms objective/);
	});

	it("rules out a pattern whose size limit the model exceeds, and says the size was extrapolated", async () => {
		const advice = advise(
			await load(),
			{ rateRps: 50, p99Ms: 100, modelBytes: 300e6 },
			{
				prices,
				sizeLimits: [{ pattern: "http", bytes: 250e6, what: "a test limit" }],
			},
		);
		const http = advice.find((a) => a.pattern === "http");
		expect(http?.fits).toBe(false);
		expect(http?.reasons.join(" ")).toMatch(
			/300 MB model exceeds a test limit \(250 MB\)/,
		);
		expect(http?.extrapolated.join(" ")).toMatch(/300 MB model not measured/);
	});

	it("charges a serverless pattern a cold start when requests come less often than instances stay warm", async () => {
		const results = await load();
		const http = results.targets.http as TargetResult;
		const serverless: TargetResult = {
			...http,
			pattern: "serverless",
			coldStart: {
				total_ms: { median: 250, min: 250, max: 250, rounds: [250] },
				phases: {},
				runs: 1,
			},
		};
		const rare = advise(
			{ ...results, targets: { serverless } },
			{ rateRps: 1 / 3600, p99Ms: 100 },
			{ prices, idleSeconds: 300 },
		)[0];
		expect(rare?.p99Ms).toBe(250);
		expect(rare?.fits).toBe(false);
		const busy = advise(
			{ ...results, targets: { serverless } },
			{ rateRps: 50, p99Ms: 100 },
			{ prices, idleSeconds: 300 },
		)[0];
		expect(busy?.fits).toBe(true);
	});
});

describe("monthlyCost", () => {
	it("prices a function by requests and GB-seconds", async () => {
		const t = (await load()).targets.http as TargetResult;
		// 10 req/s for a month, billed 1 ms each (p50 rounded up), 0.5 GB.
		const requests = 10 * 730 * 3600;
		expect(
			monthlyCost("serverless", t, 10, 1, { prices, memoryGb: 0.5 }),
		).toBeCloseTo(
			(requests / 1e6) * prices.function.usd_per_million_requests +
				requests * 0.001 * 0.5 * prices.function.usd_per_gb_second,
			6,
		);
	});
});

describe("parsing a profile", () => {
	it("reads rates and durations with units, and refuses others", () => {
		expect(parseRate("50/s")).toBe(50);
		expect(parseRate("3000/min")).toBe(50);
		expect(parseRate("36/h")).toBe(0.01);
		expect(parseDurationMs("100ms")).toBe(100);
		expect(parseDurationMs("0.5s")).toBe(500);
		expect(() => parseRate("fast")).toThrow(/not like 50\/s/);
	});
});
