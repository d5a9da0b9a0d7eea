// Where a latency tail comes from, read from the server's own /metrics around a run: its GC pauses
// (prom-client's GC histogram, fed by Node's PerformanceObserver: exact), its event-loop delay (sampled
// every 10 ms by monitorEventLoopDelay and reset at each scrape), and its own request-duration histogram
// (time inside the app), to set against what the driver measured from outside.

/** prom-client's event-loop sampling interval (`eventLoopMonitoringPrecision`), in ms; its figures include it. */
const EVENT_LOOP_RESOLUTION_MS = 10;

/** What one scrape of a server's /metrics says, cumulative since the server started. */
export interface ServerSnapshot {
	gcSeconds: number;
	gcCount: number;
	minorGcSeconds: number;
	minorGcCount: number;
	/** Since the previous scrape (prom-client resets the event-loop histogram at each collect). */
	eventLoopP99S: number;
	eventLoopMaxS: number;
	/** `mdp_http_request_duration_seconds_bucket` of POST /predict: upper bound (s) → cumulative count. */
	predictBuckets: Map<number, number>;
}

/** The server-side evidence of one run. */
export interface TailEvidence {
	/** GC pause time per second of run, ms/s. */
	gc_ms_per_s: number;
	/** Mean pause of a minor GC (scavenge), ms. */
	minor_gc_mean_ms: number;
	gc_count: number;
	/** Event-loop delay p99 and max during the run, ms (sampled every 10 ms, the interval taken off). */
	event_loop_delay_p99_ms: number;
	event_loop_delay_max_ms: number;
	/** Upper bound of the bucket holding the p99 of time inside the app (POST /predict), ms. */
	server_p99_ms_le: number;
	requests: number;
}

interface Sample {
	name: string;
	labels: Record<string, string>;
	value: number;
}

/**
 * Samples of a Prometheus text exposition (`name{a="b"} value` lines; comments skipped).
 *
 * @example
 * parsePrometheus('x_total{route="/p"} 3'); // [{ name: "x_total", labels: { route: "/p" }, value: 3 }]
 */
export function parsePrometheus(text: string): Sample[] {
	const samples: Sample[] = [];
	for (const line of text.split("\n")) {
		const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
		if (!m) continue;
		const labels: Record<string, string> = {};
		for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
			labels[l[1] as string] = l[2] as string;
		samples.push({
			name: m[1] as string,
			labels,
			value: m[3] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[3]),
		});
	}
	return samples;
}

/**
 * Reads the snapshot from a server's /metrics text; undefined when the server does not export Node's
 * process metrics (an older server, a balancer, a function platform).
 *
 * @example
 * const before = toServerSnapshot(await (await fetch(`${url}/metrics`)).text());
 */
export function toServerSnapshot(text: string): ServerSnapshot | undefined {
	const samples = parsePrometheus(text);
	const one = (name: string) => samples.find((s) => s.name === name)?.value;
	const eventLoopP99S = one("nodejs_eventloop_lag_p99_seconds");
	if (eventLoopP99S === undefined) return undefined;
	const sum = (name: string, kind?: string) =>
		samples
			.filter((s) => s.name === name && (!kind || s.labels.kind === kind))
			.reduce((n, s) => n + s.value, 0);
	const predictBuckets = new Map<number, number>();
	for (const s of samples)
		if (
			s.name === "mdp_http_request_duration_seconds_bucket" &&
			s.labels.route === "/predict" &&
			s.labels.method === "POST"
		)
			predictBuckets.set(
				s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le),
				s.value,
			);
	return {
		gcSeconds: sum("nodejs_gc_duration_seconds_sum"),
		gcCount: sum("nodejs_gc_duration_seconds_count"),
		minorGcSeconds: sum("nodejs_gc_duration_seconds_sum", "minor"),
		minorGcCount: sum("nodejs_gc_duration_seconds_count", "minor"),
		eventLoopP99S,
		eventLoopMaxS: one("nodejs_eventloop_lag_max_seconds") ?? Number.NaN,
		predictBuckets,
	};
}

/**
 * Scrapes a server's /metrics; undefined when it has no process metrics or cannot be read.
 *
 * @example
 * const before = await scrapeServer("http://127.0.0.1:8080");
 */
export async function scrapeServer(
	url: string,
): Promise<ServerSnapshot | undefined> {
	try {
		const res = await fetch(`${url}/metrics`, {
			signal: AbortSignal.timeout(5000),
		});
		return res.ok ? toServerSnapshot(await res.text()) : undefined;
	} catch {
		return undefined;
	}
}

/**
 * The evidence of a run from the snapshots taken just before and just after it (`after` also carries the
 * event-loop figures of the run itself, the histogram having been reset by `before`).
 *
 * @example
 * tailEvidence(before, after, 10); // { gc_ms_per_s: 21.5, minor_gc_mean_ms: 1.4, … }
 */
export function tailEvidence(
	before: ServerSnapshot,
	after: ServerSnapshot,
	seconds: number,
): TailEvidence {
	const minorCount = after.minorGcCount - before.minorGcCount;
	const bounds = [...after.predictBuckets.keys()].sort((a, b) => a - b);
	const delta = bounds.map(
		(le) =>
			[
				le,
				(after.predictBuckets.get(le) ?? 0) -
					(before.predictBuckets.get(le) ?? 0),
			] as const,
	);
	const requests = delta.at(-1)?.[1] ?? 0;
	const p99 = delta.find(([, n]) => n >= 0.99 * requests)?.[0];
	const delay = (s: number) => Math.max(0, s * 1000 - EVENT_LOOP_RESOLUTION_MS);
	return {
		gc_ms_per_s: ((after.gcSeconds - before.gcSeconds) * 1000) / seconds,
		minor_gc_mean_ms:
			minorCount > 0
				? ((after.minorGcSeconds - before.minorGcSeconds) * 1000) / minorCount
				: 0,
		gc_count: after.gcCount - before.gcCount,
		event_loop_delay_p99_ms: delay(after.eventLoopP99S),
		event_loop_delay_max_ms: delay(after.eventLoopMaxS),
		server_p99_ms_le:
			requests > 0 && p99 !== undefined ? p99 * 1000 : Number.NaN,
		requests,
	};
}
