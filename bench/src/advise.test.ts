import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { SIZE_LIMITS } from "@mdp/serverless";
import { describe, expect, it } from "vitest";
import {
	advise,
	monthlyCost,
	packageLimitLines,
	packageSizeLimits,
	parseDurationMs,
	parseRate,
} from "./advise.ts";
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

describe("package size limits (the providers' table of @mdp/serverless)", () => {
	const serverlessWith = async (extras?: Record<string, number>) => {
		const results = await load();
		const http = results.targets.http as TargetResult;
		const serverless: TargetResult = {
			...http,
			pattern: "serverless",
			...(extras ? { extras } : {}),
		};
		return { ...results, targets: { http, serverless } };
	};

	it("rules serverless out for a 300 MB model and names aws's limit, not the patterns without one", async () => {
		const results = await serverlessWith();
		const advice = advise(
			results,
			{ rateRps: 50, p99Ms: 100, modelBytes: 300e6 },
			{ prices, sizeLimits: packageSizeLimits(SIZE_LIMITS, results) },
		);
		const serverless = advice.find((a) => a.pattern === "serverless");
		expect(serverless?.fits).toBe(false);
		expect(serverless?.reasons.join(" ")).toMatch(
			/300 MB model exceeds the aws unzipped package limit of 262 MB/,
		);
		expect(advice.find((a) => a.pattern === "http")?.fits).toBe(true);
		const lines = packageLimitLines(300e6, SIZE_LIMITS, results);
		expect(lines.find((l) => l.startsWith("- aws:"))).toMatch(
			/^- aws: crossed/,
		);
		expect(lines.find((l) => l.startsWith("- azure:"))).toMatch(
			/no package limit documented/,
		);
	});

	it("lets a 1 MB model through every provider's limits", async () => {
		const results = await serverlessWith();
		const serverless = advise(
			results,
			{ rateRps: 50, p99Ms: 100, modelBytes: 1e6 },
			{ prices, sizeLimits: packageSizeLimits(SIZE_LIMITS, results) },
		).find((a) => a.pattern === "serverless");
		expect(serverless?.fits).toBe(true);
		expect(
			packageLimitLines(1e6, SIZE_LIMITS, results).filter((l) =>
				l.includes("crossed"),
			),
		).toEqual([]);
	});

	it("counts the rest of the package measured in the run: a 220 MB model crosses aws's 262 MB unzipped limit, not gcp's", async () => {
		// The aws zip as measured: 60 MB unzipped beside the model (onnxruntime-node, app), 20 MB zipped.
		const results = await serverlessWith({
			zip_bytes: 20e6,
			zip_unzipped_bytes: 60e6,
		});
		const limits = packageSizeLimits(SIZE_LIMITS, results);
		const awsUnzipped = limits.find(
			(l) => l.provider === "aws" && l.what.includes("unzipped"),
		);
		// 262,144,000 bytes less 60 MB, less nothing for the 30 KB reference model that the 60 MB included.
		const model = (results.targets.http?.footprint?.artifacts ?? []).find(
			(a) => a.kind === "model-bundle",
		)?.bytes as number;
		expect(awsUnzipped?.bytes).toBe(262_144_000 - (60e6 - model));
		const lines = packageLimitLines(220e6, SIZE_LIMITS, results);
		const aws = lines.find((l) => l.startsWith("- aws:")) ?? "";
		expect(aws).toMatch(/^- aws: crossed: the aws unzipped package limit/);
		expect(lines.find((l) => l.startsWith("- gcp:"))).toMatch(
			/crossed: the gcp zipped/,
		);
		expect(lines.find((l) => l.startsWith("- gcp:"))).not.toMatch(
			/gcp unzipped/,
		);
		// 40 MB fits aws unzipped but not its 52 MB zipped limit once the 20 MB rest is counted.
		const small = advise(
			results,
			{ rateRps: 50, p99Ms: 100, modelBytes: 40e6 },
			{ prices, sizeLimits: limits },
		).find((a) => a.pattern === "serverless");
		expect(small?.fits).toBe(false);
		expect(small?.reasons.join(" ")).toMatch(
			/exceeds the aws zipped package limit of 52 MB less 20 MB/,
		);
		expect(small?.reasons.join(" ")).toMatch(
			/within the package limits of gcp/,
		);
	});
});
