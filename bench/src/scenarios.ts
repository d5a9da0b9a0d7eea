import type { Payload, Scenario } from "./types.ts";

/** A rate given as a fraction of the target's measured saturation throughput. */
export type RateSpec = number | { ofSaturation: number };

/**
 * The load scenarios, as data: executor, rate or concurrency, duration, payload. The same data drives the
 * k6 scripts (bench/k6) and the embedded driver. Full-run durations; `--quick` scales them down.
 */
export const SCENARIOS = {
	/** Closed loop at 32 concurrent requests: saturation throughput (never mixed with latency figures). */
	saturation: {
		executor: "constant-vus",
		vus: 32,
		durationS: 10,
		payload: "predict-1",
	},
	/**
	 * Open loop at one fixed rate for every HTTP target and the bare HTTP ceiling: CPU per request, the least
	 * noisy figure on these machines (about ±3% between runs, where throughput spreads ±40%).
	 */
	cpu: {
		executor: "constant-arrival-rate",
		rate: 2000,
		durationS: 10,
		payload: "predict-1",
		maxVUs: 64,
	},
	/** Open loop at a light fixed rate: latency when nothing queues. */
	light: {
		executor: "constant-arrival-rate",
		rate: 200,
		durationS: 10,
		payload: "predict-1",
		maxVUs: 64,
	},
	/** Open loop at 70% of the target's own saturation: latency under real load. */
	load70: {
		executor: "constant-arrival-rate",
		rate: { ofSaturation: 0.7 },
		durationS: 10,
		payload: "predict-1",
		maxVUs: 256,
	},
	/** Capacity at the latency objective: the highest of these rates whose p99 stays under the SLO. */
	slo: {
		executor: "constant-arrival-rate",
		rates: [
			{ ofSaturation: 1 },
			{ ofSaturation: 0.85 },
			{ ofSaturation: 0.7 },
			{ ofSaturation: 0.5 },
			{ ofSaturation: 0.3 },
		],
		durationS: 5,
		payload: "predict-1",
		maxVUs: 256,
	},
	/** Batches of 32 records per request: rows per second. */
	batch32: {
		executor: "constant-vus",
		vus: 8,
		durationS: 5,
		payload: "predict-32",
	},
	/** The Open Inference Protocol payload instead of /predict (HTTP targets). */
	infer: {
		executor: "constant-vus",
		vus: 32,
		durationS: 5,
		payload: "infer-1",
	},
	/** Ramp from 10% to 100% of saturation: throughput against offered rate (chart). */
	ramp: {
		executor: "ramping-arrival-rate",
		startFraction: 0.1,
		stages: [{ toFraction: 1, durationS: 10 }],
		payload: "predict-1",
		maxVUs: 256,
	},
	/** The warm-up before measuring: JIT, session arena, connection pools. Not reported. */
	warmup: {
		executor: "constant-vus",
		vus: 8,
		durationS: 3,
		payload: "predict-1",
	},
} as const;

/** The p99 objective of the capacity search, in milliseconds. */
export const DEFAULT_SLO_MS = 50;

/** Turns scenario data into a concrete scenario for a target whose saturation is known. */
export function resolveScenario(
	id: string,
	spec: {
		executor: "constant-arrival-rate";
		rate: RateSpec;
		durationS: number;
		payload: Payload;
		maxVUs: number;
	},
	saturationRps: number,
	scale: number,
): Scenario {
	const rate =
		typeof spec.rate === "number"
			? spec.rate
			: Math.max(1, Math.round(spec.rate.ofSaturation * saturationRps));
	return {
		id,
		executor: spec.executor,
		rate,
		durationS: Math.max(1, spec.durationS * scale),
		payload: spec.payload,
		maxVUs: spec.maxVUs,
	};
}

/** Scales a closed-loop scenario's duration. */
export function closedLoop(
	id: string,
	spec: { vus: number; durationS: number; payload: Payload },
	scale: number,
): Scenario {
	return {
		id,
		executor: "constant-vus",
		vus: spec.vus,
		durationS: Math.max(1, spec.durationS * scale),
		payload: spec.payload,
	};
}
