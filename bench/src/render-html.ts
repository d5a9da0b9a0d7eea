import * as vega from "vega";
import * as vl from "vega-lite";
import { advise } from "./advise.ts";
import { checkClaims } from "./claims.ts";
import { readPrices } from "./measure/cost.ts";
import { comparisonRows, describeFloor, faultRows } from "./render-report.ts";
import type { BenchResults } from "./types.ts";

type Row = Record<string, string | number>;

/** Renders a Vega-Lite spec to an SVG string in Node (no browser, no network). */
export async function toSvg(spec: vl.TopLevelSpec): Promise<string> {
	const view = new vega.View(vega.parse(vl.compile(spec).spec), {
		renderer: "none",
	});
	try {
		return await view.toSVG();
	} finally {
		view.finalize();
	}
}

const measuredTargets = (r: BenchResults) =>
	Object.entries(r.targets).filter(([, t]) => !t.not_measured);

/** Data for the charts. Pure: results in, rows out. */
export function chartData(results: BenchResults) {
	const latency: Row[] = [];
	const throughput: Row[] = [];
	const coldStart: Row[] = [];
	const footprint: Row[] = [];
	for (const [id, t] of measuredTargets(results)) {
		const l = t.latency?.load70;
		if (l) {
			for (const [p, s] of [
				["p50", l.p50_ms],
				["p90", l.p90_ms],
				["p99", l.p99_ms],
				["p99.9", l.p999_ms],
			] as const) {
				if (Number.isFinite(s.median))
					latency.push({ target: id, percentile: p, ms: s.median });
			}
		}
		for (const [scenario, runs] of Object.entries(t.raw ?? {})) {
			for (const run of runs)
				if (run.offered_rps !== null && scenario !== "ramp")
					throughput.push({
						target: id,
						offered: run.offered_rps,
						achieved: run.achieved_rps,
						p99_ms: run.p99_ms,
					});
		}
		for (const [phase, s] of Object.entries(t.coldStart?.phases ?? {})) {
			if (Number.isFinite(s.median))
				coldStart.push({ target: id, phase, ms: s.median });
		}
		if (t.footprint) {
			footprint.push({
				target: id,
				measure: "peak memory (MB)",
				value: t.footprint.peak_rss_mb,
			});
			footprint.push({
				target: id,
				measure: "artifact (MB)",
				value: t.footprint.artifact_bytes / 1e6,
			});
		}
	}
	// Cost per million predictions against the request rate: where the lines cross answers "which is
	// cheapest for my traffic". Rates from one request a minute to 10,000 req/s.
	const cost: Row[] = [];
	const prices = readPrices();
	for (let exp = -2; exp <= 4; exp += 0.25) {
		const rate = 10 ** exp;
		for (const a of advise(
			results,
			{ rateRps: rate, p99Ms: Number.POSITIVE_INFINITY },
			{ prices },
		)) {
			const perMillion = (a.usdPerMonth / (rate * 730 * 3600)) * 1e6;
			if (Number.isFinite(perMillion))
				cost.push({ target: a.pattern, rate, usd_per_million: perMillion });
		}
	}
	const sweep: Row[] = [];
	for (const point of results.sweep ?? []) {
		for (const [id, r] of Object.entries(point.targets)) {
			if (Number.isFinite(r.cold_start_ms))
				sweep.push({
					target: id,
					model_mb: point.model_bytes / 1e6,
					cold_start_ms: r.cold_start_ms,
				});
		}
	}
	return { latency, throughput, coldStart, footprint, cost, sweep };
}

/** report.html: the tables and claims of report.md plus SVG charts, self-contained (opens offline). */
export async function renderHtml(results: BenchResults): Promise<string> {
	const data = chartData(results);
	const width = 420;
	const charts: [string, vl.TopLevelSpec][] = [
		[
			"Latency percentiles at 70% of each target's saturation (ms, log scale)",
			{
				width,
				height: 220,
				data: { values: data.latency },
				mark: { type: "line", point: { filled: true, size: 70 } },
				encoding: {
					x: {
						field: "percentile",
						type: "ordinal",
						sort: ["p50", "p90", "p99", "p99.9"],
					},
					y: { field: "ms", type: "quantitative", scale: { type: "log" } },
					color: { field: "target" },
				},
			},
		],
		[
			"Throughput against offered rate, open loop (req/s, log-log)",
			{
				width,
				height: 220,
				data: { values: data.throughput },
				layer: [
					{
						mark: { type: "line", point: true },
						encoding: {
							x: {
								field: "offered",
								type: "quantitative",
								title: "offered req/s",
								scale: { type: "log" },
							},
							y: {
								field: "achieved",
								type: "quantitative",
								title: "achieved req/s",
								scale: { type: "log" },
							},
							color: { field: "target" },
							order: { field: "offered", type: "quantitative" },
						},
					},
				],
			},
		],
		[
			"Cold start by phase (ms)",
			{
				width,
				height: 120,
				data: { values: data.coldStart },
				mark: "bar",
				encoding: {
					y: { field: "target", type: "nominal" },
					x: { field: "ms", type: "quantitative", stack: "zero" },
					color: { field: "phase", legend: { orient: "bottom", columns: 3 } },
				},
			},
		],
		[
			"Cost per million predictions against request rate ($, log-log; the cheapest line wins)",
			{
				width,
				height: 220,
				data: { values: data.cost },
				mark: { type: "line" },
				encoding: {
					x: {
						field: "rate",
						type: "quantitative",
						title: "requests per second",
						scale: { type: "log" },
					},
					y: {
						field: "usd_per_million",
						type: "quantitative",
						title: "$ per million predictions",
						scale: { type: "log" },
					},
					color: { field: "target" },
				},
			},
		],
		...(data.sweep.length
			? ([
					[
						"Cold start against model size (ms)",
						{
							width,
							height: 220,
							data: { values: data.sweep },
							mark: { type: "line", point: true },
							encoding: {
								x: {
									field: "model_mb",
									type: "quantitative",
									title: "model MB",
									scale: { type: "log" },
								},
								y: { field: "cold_start_ms", type: "quantitative" },
								color: { field: "target" },
							},
						},
					],
				] as [string, vl.TopLevelSpec][])
			: []),
		[
			"Footprint (MB)",
			{
				width,
				height: 200,
				data: { values: data.footprint },
				mark: "bar",
				encoding: {
					x: { field: "target", type: "nominal" },
					xOffset: { field: "measure" },
					y: { field: "value", type: "quantitative", title: "MB" },
					color: { field: "measure", legend: { orient: "bottom" } },
				},
			},
		],
	];
	const svgs = await Promise.all(
		charts.map(
			async ([title, spec]) =>
				`<figure><figcaption>${escapeHtml(title)}</figcaption>${await toSvg(spec)}</figure>`,
		),
	);
	const { header, rows } = comparisonRows(results);
	const claims = checkClaims(results);
	const m = results.machine;
	return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Deployment patterns compared: ${escapeHtml(results.startedAt.slice(0, 10))}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; color: #1d2433; margin: 0; background: #f5f7fb; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 16px; }
table { border-collapse: collapse; background: #fff; font-size: 13px; width: 100%; }
th, td { border: 1px solid #dfe3ea; padding: 6px 8px; vertical-align: top; text-align: left; }
th { background: #eef1f6; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(580px, 1fr)); gap: 16px; margin: 20px 0; }
figure { background: #fff; border: 1px solid #dfe3ea; border-radius: 10px; margin: 0; padding: 12px; overflow-x: auto; }
figcaption { font-weight: 600; margin-bottom: 8px; }
.confirmed { color: #17803d; } .contradicted { color: #b42318; } .not { color: #6b7280; }
.meta { color: #5b6477; }
</style></head><body><main>
<h1>Deployment patterns compared</h1>
<p class="meta">${escapeHtml(results.startedAt.slice(0, 16).replace("T", " "))} UTC · ${results.mode}, ${results.rounds} round(s) · ${escapeHtml(m.cpu)}, ${m.cores} cores, steal ${m.steal_pct}% · ${escapeHtml(m.pinning)} · ${escapeHtml(results.driver.name)}</p>
<table><thead><tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>
<tbody>${rows.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th>${escapeHtml(c)}</th>` : `<td>${escapeHtml(c)}</td>`)).join("")}</tr>`).join("\n")}</tbody></table>
${results.driver.floor ? `<p class="meta">${escapeHtml(describeFloor(results.driver.floor))}</p>\n` : ""}<div class="charts">${svgs.join("\n")}</div>
${(() => {
	const faults = faultRows(results);
	return faults.rows.length
		? `<h2>Faults under load</h2>
<table><thead><tr>${faults.header.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>
<tbody>${faults.rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`).join("\n")}</tbody></table>\n`
		: "";
})()}<h2>The claims, checked</h2>
<ul>${claims.map((c) => `<li><strong>${escapeHtml(c.claim)}</strong>: <span class="${c.verdict === "not measured yet" ? "not" : c.verdict}">${c.verdict}</span>. ${escapeHtml(c.evidence)}.</li>`).join("\n")}</ul>
</main></body></html>
`;
}

function escapeHtml(text: string): string {
	return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
