import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
	chartData,
	checkClaims,
	comparisonRows,
	formatStat,
	renderHtml,
	renderMarkdown,
	rerenderReport,
	toSvg,
} from "../src/index.ts";
import { fromK6Summary } from "../src/load/run-k6.ts";
import { OFFLINE_NOT_MEASURED } from "../src/measure/offline.ts";
import type { BenchResults, TargetResult } from "../src/types.ts";

const fixture = join(import.meta.dirname, "fixtures", "results.json");
const load = async () =>
	JSON.parse(await readFile(fixture, "utf8")) as BenchResults;

describe("renderMarkdown (from stored results)", () => {
	it("has one comparison table: targets as columns, ceilings beside them", async () => {
		const md = renderMarkdown(await load());
		expect(md).toContain(
			"| measure | static | http | vm | container | serverless | ceiling: inference (native session run) | ceiling: HTTP (bare Hono) |",
		);
		expect(md).toMatch(
			/\| parity on the golden set \| 79\/79 bit-identical \| 79\/79 bit-identical \| not measured: package not built yet/,
		);
		expect(md).toContain("| saturation vs HTTP ceiling |");
		expect(md).toMatch(/Machine: .*2 cores/);
	});

	it("checks each claim against the numbers, and says which are not measured yet", async () => {
		const claims = checkClaims(await load());
		const verdict = (text: string) =>
			claims.find((c) => c.claim.startsWith(text))?.verdict;
		expect(verdict("Static deployment is the fastest")).toBe("confirmed");
		expect(verdict("Static deployment works offline")).toBe("confirmed");
		expect(verdict("Dynamic deployment adds network latency")).toBe(
			"confirmed",
		);
		expect(verdict("Containers start almost instantly")).toBe(
			"not measured yet",
		);
		expect(verdict("Virtualisation adds overhead")).toBe("not measurable here");
	});

	it("checks the container and serverless claims against their figures", async () => {
		const results = await load();
		const http = results.targets.http as TargetResult;
		const stat = (x: number) => ({ median: x, min: x, max: x, rounds: [x] });
		const withCold = (pattern: string, ms: number): TargetResult => ({
			...http,
			pattern,
			coldStart: { total_ms: stat(ms), phases: {}, runs: 1 },
		});
		const verdict = (text: string) =>
			checkClaims(results).find((c) => c.claim.startsWith(text));
		results.targets.container = withCold("container", 600);
		expect(verdict("Containers start almost instantly")?.verdict).toBe(
			"confirmed",
		);
		results.targets.container = withCold("container", 1500);
		expect(verdict("Containers start almost instantly")).toMatchObject({
			verdict: "contradicted",
			evidence: expect.stringMatching(/1500 ms/),
		});
		results.targets.serverless = withCold("serverless", 300);
		// The fixture's warm p50 is about 1 ms: 300 ms is a cold start.
		expect(verdict("Serverless has cold starts")?.verdict).toBe("confirmed");
		results.targets.serverless = withCold("serverless", 2);
		expect(verdict("Serverless has cold starts")?.verdict).toBe("contradicted");
	});

	it("contradicts 'static is the fastest' when the numbers say so", async () => {
		const results = await load();
		const s = results.targets.static;
		if (!s?.latency) throw new Error("fixture lacks static latency");
		s.latency.light.p50_ms.median = 99;
		expect(
			checkClaims(results).find((c) =>
				c.claim.startsWith("Static deployment is the fastest"),
			)?.verdict,
		).toBe("contradicted");
	});

	it("reports an offline check that could not run as not measured, never as a measured no", async () => {
		const results = await load();
		const s = results.targets.static;
		if (!s) throw new Error("fixture lacks static");
		s.offline = OFFLINE_NOT_MEASURED;
		const claim = checkClaims(results).find((c) =>
			c.claim.startsWith("Static deployment works offline"),
		);
		expect(claim?.verdict).toBe("not measured yet");
		const row = comparisonRows(results).rows.find((r) =>
			r[0]?.startsWith("works offline"),
		);
		expect(row?.[1]).toMatch(/^not measured: .*unshare/);
		s.offline = { works: false, method: "cut" };
		expect(
			checkClaims(results).find((c) =>
				c.claim.startsWith("Static deployment works offline"),
			)?.verdict,
		).toBe("contradicted");
	});

	it("shows medians with their spread", () => {
		expect(formatStat({ median: 2, min: 1, max: 3, rounds: [1, 2, 3] })).toBe(
			"2.00 (1.00–3.00)",
		);
		expect(formatStat({ median: 2, min: 2, max: 2, rounds: [2] }, 0)).toBe("2");
		expect(formatStat(undefined)).toBe("n/a");
	});

	it("has a row for every documented measure", async () => {
		const names = comparisonRows(await load()).rows.map((r) => r[0]);
		for (const measure of [
			"parity",
			"latency at",
			"latency at 70%",
			"saturation throughput",
			"max throughput",
			"cold start",
			"peak memory",
			"artifact size",
			"CPU seconds",
			"works offline",
			"cost per million",
		]) {
			expect(
				names.some((n) => n?.startsWith(measure)),
				measure,
			).toBe(true);
		}
	});
});

describe("the driver floor and the kill under load, in the report", () => {
	const stat = (x: number, rounds = [x]) => ({
		median: x,
		min: Math.min(...rounds),
		max: Math.max(...rounds),
		rounds,
	});
	const withFaults = async (failed: number, recovered: boolean) => {
		const results = await load();
		results.driver.floor = {
			rate_rps: 200,
			target: "the bare HTTP ceiling (mdp-core serve --bare)",
			slices: 2,
			slice_s: 2,
			driver: { p50_ms: stat(0.412, [0.4, 0.424]), p99_ms: stat(1.9) },
			reference: { p50_ms: stat(0.371, [0.36, 0.382]), p99_ms: stat(1.2) },
			extra_p50_ms: stat(0.041, [0.04, 0.042]),
			extra_p99_ms: stat(0.7),
		};
		const http = results.targets.http as TargetResult;
		results.targets.vm = {
			...http,
			pattern: "vm",
			not_measured: undefined,
			faults: {
				kill_instance: {
					instances: 2,
					offered_rps: 600,
					duration_s: 5,
					kill_at_s: 1.5,
					requests: 3000,
					failed,
					dropped: 0,
					failed_after_kill_ms: [],
					p50_ms: 0.9,
					p99_ms: 12.5,
					max_ms: 240,
					recovered,
					recovery_ms: recovered ? 431 : null,
					replacements: recovered ? 1 : 0,
					method: "test",
				},
			},
		};
		return results;
	};

	it("states the driver's floor beside the reference client's, with the driver's excess", async () => {
		const md = renderMarkdown(await withFaults(0, true));
		expect(md).toContain(
			"Driver floor: at 200 req/s on the bare HTTP ceiling (mdp-core serve --bare)",
		);
		expect(md).toContain(
			"the embedded driver measured p50 0.412 (0.400–0.424)",
		);
		expect(md).toContain("one raw socket (the floor of any client here) 0.371");
		expect(md).toContain("the driver adds 0.041 (0.040–0.042) ms at p50");
	});

	it("tabulates the kill under load and confirms the replication claim only with no failed request and a whole fleet", async () => {
		const ok = await withFaults(0, true);
		const md = renderMarkdown(ok);
		expect(md).toContain("## Faults under load");
		expect(md).toContain(
			"| vm | 2 | 600 req/s open loop for 5 s, SIGKILL at 1.5 s | 0 of 3,000 | 0.90 / 12.5 / 240 | 431 ms (1 replaced) |",
		);
		const claim = (r: typeof ok) =>
			checkClaims(r).find((c) => c.claim.startsWith("Replication keeps"));
		expect(claim(ok)).toMatchObject({
			verdict: "confirmed",
			evidence: expect.stringMatching(/0 failed of 3,000 requests/),
		});
		expect(claim(await withFaults(3, true))?.verdict).toBe("contradicted");
		expect(claim(await withFaults(0, false))).toMatchObject({
			verdict: "contradicted",
			evidence: expect.stringMatching(/not whole again/),
		});
		expect(claim(await load())?.verdict).toBe("not measured yet");
		expect(renderMarkdown(await load())).not.toContain("## Faults under load");
		const html = await renderHtml(ok);
		expect(html).toContain("<h2>Faults under load</h2>");
		expect(html).toContain("<td>431 ms (1 replaced)</td>");
		expect(html).toContain("the driver adds 0.041");
	});
});

describe("charts", () => {
	it("derive their data from the results", async () => {
		const data = chartData(await load());
		expect(
			data.latency.filter((r) => r.target === "http").map((r) => r.percentile),
		).toEqual(["p50", "p90", "p99", "p99.9"]);
		expect(data.throughput.length).toBeGreaterThan(0);
		expect(data.coldStart.map((r) => r.target)).toContain("static");
	});

	it("render to SVG without a browser", async () => {
		const svg = await toSvg({
			data: { values: [{ a: "x", b: 1 }] },
			mark: "bar",
			encoding: { x: { field: "a" }, y: { field: "b", type: "quantitative" } },
		});
		expect(svg).toMatch(/^<svg[\s\S]*<\/svg>$/);
	});
});

describe("rerenderReport", () => {
	it("rewrites report.md and report.html from results.json alone", async () => {
		const dir = await mkdtemp(join(tmpdir(), "mdp-report-"));
		try {
			await cp(fixture, join(dir, "results.json"));
			await writeFile(join(dir, "report.md"), "stale report\n");
			await rerenderReport(dir);
			const md = await readFile(join(dir, "report.md"), "utf8");
			expect(md).not.toContain("stale report");
			// Figures of the fixture, formatted here by hand, appear in the re-rendered table.
			const results = await load();
			const http = results.targets.http;
			expect(md).toContain("| measure | static | http |");
			expect(md).toContain(
				`${http?.parity?.checked}/${http?.parity?.checked} bit-identical`,
			);
			expect(md).toContain(
				http?.throughput?.saturation_rps.median.toFixed(0) ?? "missing",
			);
			expect(md).toContain(results.startedAt.slice(0, 10));
			const html = await readFile(join(dir, "report.html"), "utf8");
			expect(html.match(/<svg/g)?.length).toBeGreaterThanOrEqual(4);
			expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
		} finally {
			await rm(dir, { recursive: true, force: true });
		}
	});
});

describe("fromK6Summary", () => {
	it("reads k6's summary export, where http_req_failed passes count failed requests", () => {
		const summary = {
			metrics: {
				http_req_duration: {
					avg: 1.2,
					min: 0.3,
					med: 1.1,
					max: 30,
					"p(90)": 2,
					"p(99)": 9,
					"p(99.9)": 20,
				},
				http_reqs: { count: 1000, rate: 100 },
				http_req_failed: { passes: 4, fails: 996, value: 0.004 },
				dropped_iterations: { count: 7, rate: 0.7 },
			},
		};
		const r = fromK6Summary(
			summary,
			{
				id: "light",
				executor: "constant-arrival-rate",
				rate: 100,
				durationS: 10,
				payload: "predict-1",
				maxVUs: 64,
			},
			10,
		);
		expect(r).toMatchObject({
			requests: 1000,
			errors: 4,
			dropped: 7,
			p50_ms: 1.1,
			p99_ms: 9,
			p999_ms: 20,
			offered_rps: 100,
		});
		expect(r.achieved_rps).toBeCloseTo(99.6);
	});
});
