import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { BoundCounter, BoundHistogram } from "./bound-metrics.ts";

// The reference is prom-client's own Counter and Histogram fed the same observations: the bound metrics
// must export exactly what prom-client would, in text and in JSON.
const BUCKETS = [0.001, 0.01, 0.1, 1];
// On a bound (le is inclusive), between bounds, below the first, above the last, and zero.
const OBSERVATIONS: [string, string, number][] = [
	["/predict", "POST", 0.001],
	["/predict", "POST", 0.0005],
	["/predict", "POST", 0.05],
	["/predict", "POST", 0.1],
	["/predict", "POST", 7.5],
	["/v2/models/:name/infer", "POST", 0],
	["/v2/models/:name/infer", "POST", 0.01],
	["/predict", "GET", 1],
];

function feed(registry: Registry, bound: boolean) {
	const registers = [registry];
	const histogramOptions = {
		name: "t_duration_seconds",
		help: "duration",
		labelNames: ["route", "method"] as const,
		buckets: BUCKETS,
		registers,
	};
	const counterOptions = {
		name: "t_requests_total",
		help: "requests",
		labelNames: ["route", "method"] as const,
		registers,
	};
	if (bound) {
		const histogram = new BoundHistogram(histogramOptions);
		const counter = new BoundCounter(counterOptions);
		for (const [route, method, value] of OBSERVATIONS) {
			histogram.labels({ route, method }).observe(value);
			counter.labels({ route, method }).inc(route === "/predict" ? 2 : 1);
		}
	} else {
		const histogram = new Histogram(histogramOptions);
		const counter = new Counter(counterOptions);
		for (const [route, method, value] of OBSERVATIONS) {
			histogram.labels({ route, method }).observe(value);
			counter.labels({ route, method }).inc(route === "/predict" ? 2 : 1);
		}
	}
}

describe("bound metrics", () => {
	it("export the same text and JSON as prom-client's Counter and Histogram for the same observations", async () => {
		const reference = new Registry();
		const bound = new Registry();
		feed(reference, false);
		feed(bound, true);
		const text = await bound.metrics();
		expect(text).toBe(await reference.metrics());
		// Exemplars are not supported: prom-client's JSON says `exemplar: null` on each bucket.
		const withoutExemplars = (json: unknown) =>
			JSON.parse(
				JSON.stringify(json, (key, value) =>
					key === "exemplar" ? undefined : value,
				),
			);
		expect(withoutExemplars(await bound.getMetricsAsJSON())).toEqual(
			withoutExemplars(await reference.getMetricsAsJSON()),
		);
		// Spot-check the figures themselves, not only the agreement: 0.001 falls in le="0.001" (inclusive),
		// 7.5 only in +Inf.
		expect(text).toContain(
			't_duration_seconds_bucket{le="0.001",route="/predict",method="POST"} 2',
		);
		expect(text).toContain(
			't_duration_seconds_bucket{le="1",route="/predict",method="POST"} 4',
		);
		expect(text).toContain(
			't_duration_seconds_bucket{le="+Inf",route="/predict",method="POST"} 5',
		);
		expect(text).toContain(
			't_duration_seconds_sum{route="/predict",method="POST"} 7.6515',
		);
		expect(text).toContain(
			't_requests_total{route="/predict",method="POST"} 10',
		);
	});

	it("hand out one child per label set; reset zeroes them and children keep counting", async () => {
		const registry = new Registry();
		const counter = new BoundCounter({
			name: "c_total",
			help: "c",
			labelNames: ["a"] as const,
			registers: [registry],
		});
		const child = counter.labels({ a: "x" });
		expect(counter.labels({ a: "x" })).toBe(child);
		expect(counter.labels({ a: "y" })).not.toBe(child);
		child.inc();
		child.inc(2);
		expect(await registry.metrics()).toContain('c_total{a="x"} 3');
		registry.resetMetrics();
		expect(await registry.metrics()).toContain('c_total{a="x"} 0');
		child.inc();
		expect(await registry.metrics()).toContain('c_total{a="x"} 1');
	});

	it("refuse what prom-client refuses: a counter going down, a non-finite observation", () => {
		const registry = new Registry();
		const counter = new BoundCounter({
			name: "c_total",
			help: "c",
			labelNames: [] as const,
			registers: [registry],
		});
		const histogram = new BoundHistogram({
			name: "h",
			help: "h",
			labelNames: [] as const,
			buckets: [1],
			registers: [registry],
		});
		expect(() => counter.labels({}).inc(-1)).toThrow(TypeError);
		expect(() => counter.labels({}).inc(Number.POSITIVE_INFINITY)).toThrow(
			TypeError,
		);
		expect(() => histogram.labels({}).observe(Number.NaN)).toThrow(TypeError);
		expect(() =>
			histogram.labels({}).observe(Number.POSITIVE_INFINITY),
		).toThrow(TypeError);
	});
});
