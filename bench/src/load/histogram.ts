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
