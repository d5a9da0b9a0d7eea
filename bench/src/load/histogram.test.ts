import { describe, expect, it } from "vitest";
import { createLatencyHistogram, latencyFields } from "./histogram.ts";

/** Records latencies given in milliseconds (the histogram counts microseconds). */
function histogramOf(latenciesMs: number[]) {
	const h = createLatencyHistogram();
	for (const ms of latenciesMs) h.recordValue(Math.round(ms * 1000));
	return h;
}

describe("latencyFields", () => {
	it("reports every percentile field of 1..1000 ms at its known value (within the histogram's 0.1%)", () => {
		// 1, 2, …, 1000 ms: the p-th percentile is p·10 ms, the max 1000 ms.
		const fields = latencyFields(
			histogramOf(Array.from({ length: 1000 }, (_, i) => i + 1)),
		);
		const expected = {
			p50_ms: 500,
			p90_ms: 900,
			p99_ms: 990,
			p999_ms: 999,
			max_ms: 1000,
		};
		for (const [field, value] of Object.entries(expected)) {
			const got = fields[field as keyof typeof fields];
			expect(Math.abs(got - value) / value, `${field}: ${got}`).toBeLessThan(
				0.001,
			);
		}
	});

	it("keeps a rare tail apart: 999 fast requests and one slow one", () => {
		const fields = latencyFields(
			histogramOf([...Array.from({ length: 999 }, () => 0.4), 250]),
		);
		expect(fields.p50_ms).toBeCloseTo(0.4, 3);
		expect(fields.p99_ms).toBeCloseTo(0.4, 3);
		// Only the top 0.1% is the slow request.
		expect(fields.p999_ms).toBeCloseTo(0.4, 3);
		expect(fields.max_ms).toBeCloseTo(250, 0);
		const two = latencyFields(
			histogramOf([...Array.from({ length: 998 }, () => 0.4), 250, 250]),
		);
		expect(two.p999_ms).toBeCloseTo(250, 0);
	});

	it("says NaN, not 0, for a run with no request", () => {
		expect(Object.values(latencyFields(createLatencyHistogram()))).toEqual(
			Array(5).fill(Number.NaN),
		);
	});
});
