import * as hdr from "hdr-histogram-js";

/** An HDR histogram of latencies recorded in microseconds (1 µs to 60 s, 3 significant digits). */
export function createLatencyHistogram() {
	return hdr.build({
		lowestDiscernibleValue: 1,
		highestTrackableValue: 60_000_000,
		numberOfSignificantValueDigits: 3,
	});
}

export type LatencyHistogram = ReturnType<typeof createLatencyHistogram>;

/** Percentile of a histogram in milliseconds. */
export function percentileMs(
	histogram: LatencyHistogram,
	percentile: number,
): number {
	return histogram.totalCount === 0
		? Number.NaN
		: histogram.getValueAtPercentile(percentile) / 1000;
}

/** The latency fields every load result reports, from one histogram (ms). */
export function latencyFields(histogram: LatencyHistogram): {
	p50_ms: number;
	p90_ms: number;
	p99_ms: number;
	p999_ms: number;
	max_ms: number;
} {
	return {
		p50_ms: percentileMs(histogram, 50),
		p90_ms: percentileMs(histogram, 90),
		p99_ms: percentileMs(histogram, 99),
		p999_ms: percentileMs(histogram, 99.9),
		max_ms: histogram.totalCount === 0 ? Number.NaN : histogram.maxValue / 1000,
	};
}
