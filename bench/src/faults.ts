import { runScenario } from "./load/embedded-driver.ts";
import { latencyFields } from "./load/histogram.ts";
import { createHttpSend } from "./load/http-send.ts";
import { payloadBodies, type Workload } from "./load/measure-run.ts";
import type { FleetUnderTest, KillUnderLoadResult } from "./types.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Options of {@link measureKillUnderLoad}. */
export interface KillUnderLoadOptions {
	fleet: FleetUnderTest;
	workload: Workload;
	/** Open-loop arrival rate, req/s. */
	rate: number;
	/** Length of the load, s. */
	durationS: number;
	/** When the instance is killed, s after the load started. */
	killAtS: number;
	/** How long to wait for the fleet to be whole again after the kill, s (bounded). Default 30. */
	recoverWithinS?: number;
	/** Open-loop concurrency bound (k6's maxVUs). Default 256. */
	maxVUs?: number;
}

/**
 * Kill under load: a bounded open-loop load on the fleet's endpoint (`rate` req/s for `durationS`, latency
 * from the intended send time), one instance's process killed with SIGKILL at `killAtS`, and the fleet
 * watched every 50 ms until it is whole again: as many ready instances as it should keep, the victim
 * replaced. Counts the requests that failed (non-2xx or no answer) and when, relative to the kill.
 *
 * @example
 * const fault = await measureKillUnderLoad({ fleet, workload, rate: 300, durationS: 8, killAtS: 2 });
 * fault.failed; fault.recovery_ms;
 */
export async function measureKillUnderLoad(
	options: KillUnderLoadOptions,
): Promise<KillUnderLoadResult> {
	const { fleet, rate, durationS, killAtS } = options;
	const recoverWithinMs = (options.recoverWithinS ?? 30) * 1000;
	if (!(killAtS > 0 && killAtS < durationS))
		throw new Error(
			`kill under load: killAtS ${killAtS} must fall inside the ${durationS} s load`,
		);
	const before = await fleet.health();
	const pids = await fleet.instancePids();
	const victim = pids[0];
	if (victim === undefined || before.ready < fleet.replicas)
		throw new Error(
			`kill under load: the fleet is not whole before the kill (${before.ready}/${fleet.replicas} ready, ${pids.length} instance PIDs)`,
		);
	const { path, bodies } = payloadBodies("predict-1", options.workload);
	const client = createHttpSend(
		new URL(path, fleet.endpoint.url).href,
		bodies,
		options.maxVUs ?? 256,
	);
	const failures: number[] = [];
	let killedAt = Number.NaN;
	const send = () =>
		client.send().then(
			(ok) => {
				if (!ok) failures.push(performance.now());
				return ok;
			},
			(error: unknown) => {
				failures.push(performance.now());
				throw error;
			},
		);
	// Kill, then watch the fleet until it is whole again, while the load runs.
	const watch = (async () => {
		await sleep(killAtS * 1000);
		killedAt = performance.now();
		process.kill(victim, "SIGKILL");
		while (performance.now() - killedAt < recoverWithinMs) {
			const [health, now] = await Promise.all([
				fleet.health().catch(() => undefined),
				fleet.instancePids().catch(() => [] as number[]),
			]);
			if (
				health &&
				health.ready >= fleet.replicas &&
				health.replacements > before.replacements &&
				!now.includes(victim)
			)
				return {
					recovery_ms: performance.now() - killedAt,
					replacements: health.replacements - before.replacements,
				};
			await sleep(50);
		}
		const health = await fleet.health().catch(() => undefined);
		return {
			recovery_ms: null,
			replacements: health ? health.replacements - before.replacements : 0,
		};
	})();
	try {
		const [run, recovery] = await Promise.all([
			runScenario(
				{
					id: "kill-instance",
					executor: "constant-arrival-rate",
					rate,
					durationS,
					payload: "predict-1",
					maxVUs: options.maxVUs ?? 256,
				},
				send,
			),
			watch,
		]);
		const latency = latencyFields(run.latency);
		return {
			instances: fleet.replicas,
			offered_rps: rate,
			duration_s: durationS,
			kill_at_s: killAtS,
			requests: run.requests,
			failed: run.errors,
			dropped: run.dropped,
			failed_after_kill_ms: failures
				.slice(0, 50)
				.map((t) => Math.round(t - killedAt)),
			p50_ms: latency.p50_ms,
			p99_ms: latency.p99_ms,
			max_ms: latency.max_ms,
			recovered: recovery.recovery_ms !== null,
			recovery_ms:
				recovery.recovery_ms === null ? null : Math.round(recovery.recovery_ms),
			replacements: recovery.replacements,
			method: `SIGKILL of one of ${fleet.replicas} instance processes ${killAtS} s into a ${durationS} s open-loop load of ${rate} req/s (embedded driver, 1 record per request); recovered = ${fleet.replicas} ready instances in the balancer's pool again with the victim replaced, polled every 50 ms for at most ${recoverWithinMs / 1000} s`,
		};
	} finally {
		client.close();
	}
}
