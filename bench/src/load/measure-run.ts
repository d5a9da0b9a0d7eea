import type { BundleManifest, GoldenCase } from "@mdp/core";
import { toInferRequest } from "@mdp/core/http";
import { cpuSeconds, readCpuCounters, stealPercent } from "../measure/proc.ts";
import type { Endpoint, LoadResult, Payload, Scenario } from "../types.ts";
import { runScenario, type Send } from "./embedded-driver.ts";
import { latencyFields, percentileMs } from "./histogram.ts";
import { createHttpSend } from "./http-send.ts";
import { runK6 } from "./run-k6.ts";

/** Rows each payload carries. */
export const ROWS: Record<Payload, number> = {
	"predict-1": 1,
	"predict-32": 32,
	"infer-1": 1,
};

/** What a load run needs to build its requests: the golden records and the model they are for. */
export interface Workload {
	golden: readonly GoldenCase[];
	manifest: BundleManifest;
}

/** Request bodies for a payload, rotating over the golden records (16 variants). */
export function payloadBodies(
	payload: Payload,
	workload: Workload,
): { path: string; bodies: string[]; records: Record<string, unknown>[][] } {
	const { golden, manifest } = workload;
	const records = Array.from({ length: 16 }, (_, i) =>
		Array.from(
			{ length: ROWS[payload] },
			(_, j) => golden[(i * 7 + j) % golden.length]?.record ?? {},
		),
	);
	if (payload === "infer-1") {
		const bodies = records.map((rs) =>
			JSON.stringify(toInferRequest(rs, manifest.features)),
		);
		return { path: `/v2/models/${manifest.name}/infer`, bodies, records };
	}
	return {
		path: "/predict",
		bodies: records.map((rs) => JSON.stringify({ records: rs })),
		records,
	};
}

/** Options of {@link measureRun}. */
export interface MeasureRunOptions {
	scenario: Scenario;
	endpoint: Endpoint;
	workload: Workload;
	/** Processes of the target, whose CPU the run reads. */
	targetPids: readonly number[];
	/** The k6 binary, to drive HTTP targets with k6 instead of the embedded driver. */
	k6?: string;
}

/**
 * Runs one scenario against an endpoint, with k6 when `k6` names its binary (HTTP targets), else with the
 * embedded driver, and reads the CPU of the target's processes and of the driver, and the machine's steal
 * time, over the run.
 */
export async function measureRun(
	options: MeasureRunOptions,
): Promise<LoadResult> {
	const { scenario, endpoint, targetPids, k6 } = options;
	const { path, bodies, records } = payloadBodies(
		scenario.payload,
		options.workload,
	);
	const concurrency =
		scenario.executor === "constant-vus" ? scenario.vus : scenario.maxVUs;
	const counters = readCpuCounters();
	const targetCpu = cpuSeconds(targetPids);
	const driverCpu = process.cpuUsage();
	if (k6 && endpoint.kind === "http") {
		const result = await runK6(
			k6,
			scenario,
			new URL(path, endpoint.url).href,
			bodies,
		);
		return {
			...result,
			target_cpu_s: cpuSeconds(targetPids) - targetCpu,
			steal_pct: stealPercent(counters, readCpuCounters()),
		};
	}
	let send: Send;
	let close = () => {};
	if (endpoint.kind === "http") {
		const client = createHttpSend(
			new URL(path, endpoint.url).href,
			bodies,
			concurrency,
		);
		send = client.send;
		close = client.close;
	} else {
		let turn = 0;
		send = () =>
			endpoint
				.predict(records[turn++ % records.length] as unknown[])
				.then(() => true);
	}
	try {
		const run = await runScenario(scenario, send);
		const driver = process.cpuUsage(driverCpu);
		return {
			scenario: scenario.id,
			offered_rps:
				scenario.executor === "constant-arrival-rate" ? scenario.rate : null,
			achieved_rps: (run.requests - run.errors) / run.elapsedS,
			requests: run.requests,
			errors: run.errors,
			dropped: run.dropped,
			...latencyFields(run.latency),
			schedule_lag_p99_ms:
				scenario.executor === "constant-vus" ? 0 : percentileMs(run.lag, 99),
			target_cpu_s: cpuSeconds(targetPids) - targetCpu,
			driver_cpu_s: (driver.user + driver.system) / 1e6,
			steal_pct: stealPercent(counters, readCpuCounters()),
		};
	} finally {
		close();
	}
}
