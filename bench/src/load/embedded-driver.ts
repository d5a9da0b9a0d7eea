import type { Scenario } from "../types.ts";
import { createLatencyHistogram, type LatencyHistogram } from "./histogram.ts";

/** Sends one request; resolves true on success (2xx), false on an error answer, rejects on failure. */
export type Send = () => Promise<boolean>;

/** What one run of the embedded driver measured (latencies in µs histograms). */
export interface DriverRun {
	latency: LatencyHistogram;
	lag: LatencyHistogram;
	requests: number;
	errors: number;
	dropped: number;
	elapsedS: number;
}

const now = () => process.hrtime.bigint();

/**
 * The embedded load driver: runs a scenario with k6's executor semantics.
 * - Arrival-rate executors are open loop: request k is due at its scheduled time whatever happened to
 *   earlier ones, and its latency is timed from that *intended* time, so a stall shows in the percentiles
 *   instead of silently slowing the load (no coordinated omission). When all `maxVUs` are busy an arrival
 *   is dropped and counted, as k6 counts `dropped_iterations`.
 * - `constant-vus` is closed loop: each VU sends its next request when the previous one answered.
 * Latencies go into HDR histograms at microsecond resolution; the driver also records its own lag (how
 * late each send left), a self-check that it, not the target, kept the schedule.
 */
export async function runScenario(
	scenario: Scenario,
	send: Send,
): Promise<DriverRun> {
	return scenario.executor === "constant-vus"
		? runClosedLoop(scenario.vus, scenario.durationS, send)
		: runOpenLoop(arrivalTimes(scenario), scenario.maxVUs, send);
}

/** Intended send times (ns from start) of an arrival-rate scenario. */
export function arrivalTimes(
	scenario: Exclude<Scenario, { executor: "constant-vus" }>,
): Float64Array {
	const times: number[] = [];
	if (scenario.executor === "constant-arrival-rate") {
		const n = Math.round(scenario.rate * scenario.durationS);
		for (let k = 0; k < n; k++) times.push((k * 1e9) / scenario.rate);
		return Float64Array.from(times);
	}
	// Ramping: the rate moves linearly within each stage, r(t) = a + b·t, so the expected count is
	// N(t) = a·t + b·t²/2; arrival k is due where N(t) reaches k (an inhomogeneous schedule, not a Poisson one).
	let from = scenario.startRate;
	let stageStart = 0;
	let carried = 0;
	for (const stage of scenario.stages) {
		const seconds = stage.durationS;
		const a = from;
		const b = (stage.target - from) / seconds;
		const total = a * seconds + (b * seconds * seconds) / 2;
		for (let k = Math.ceil(carried); k < carried + total; k++) {
			const n = k - carried;
			const t =
				Math.abs(b) < 1e-12 ? n / a : (-a + Math.sqrt(a * a + 2 * b * n)) / b;
			times.push(stageStart + t * 1e9);
		}
		carried += total;
		stageStart += seconds * 1e9;
		from = stage.target;
	}
	return Float64Array.from(times);
}

function runOpenLoop(
	times: Float64Array,
	maxVUs: number,
	send: Send,
): Promise<DriverRun> {
	const latency = createLatencyHistogram();
	const lag = createLatencyHistogram();
	const run = { latency, lag, requests: 0, errors: 0, dropped: 0, elapsedS: 0 };
	const start = now() + 2_000_000n;
	let next = 0;
	let inFlight = 0;
	return new Promise((resolve) => {
		const finish = () => {
			run.elapsedS = Number(now() - start) / 1e9;
			resolve(run);
		};
		const tick = () => {
			const elapsed = Number(now() - start);
			while (next < times.length && (times[next] as number) <= elapsed) {
				const intended = start + BigInt(Math.round(times[next] as number));
				next++;
				if (inFlight >= maxVUs) {
					run.dropped++;
					continue;
				}
				inFlight++;
				run.requests++;
				const done = (ok: boolean) => {
					latency.recordValue(Math.max(1, Number(now() - intended) / 1000));
					if (!ok) run.errors++;
					inFlight--;
					if (next >= times.length && inFlight === 0) finish();
				};
				// The lag is recorded after the send, so that the request leaves first (send writes synchronously).
				const sent = now();
				const answer = send();
				lag.recordValue(Math.max(1, Number(sent - intended) / 1000));
				answer.then(done, () => done(false));
			}
			if (next < times.length) {
				const wait = ((times[next] as number) - Number(now() - start)) / 1e6;
				// Timers are 1 ms coarse: sleep when the next arrival is far, poll the event loop when near.
				if (wait > 1.5) setTimeout(tick, wait - 1);
				else setImmediate(tick);
			} else if (inFlight === 0) finish();
		};
		setTimeout(tick, 2);
	});
}

function runClosedLoop(
	vus: number,
	durationS: number,
	send: Send,
): Promise<DriverRun> {
	const latency = createLatencyHistogram();
	const lag = createLatencyHistogram();
	const run = { latency, lag, requests: 0, errors: 0, dropped: 0, elapsedS: 0 };
	const start = now();
	const end = start + BigInt(Math.round(durationS * 1e9));
	const vu = async () => {
		while (now() < end) {
			const sent = now();
			run.requests++;
			try {
				if (!(await send())) run.errors++;
			} catch {
				run.errors++;
			}
			latency.recordValue(Math.max(1, Number(now() - sent) / 1000));
		}
	};
	return Promise.all(Array.from({ length: vus }, vu)).then(() => {
		run.elapsedS = Number(now() - start) / 1e9;
		return run;
	});
}
