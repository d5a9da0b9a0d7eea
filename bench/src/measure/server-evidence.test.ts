import { ModelHost, referenceBundleDir } from "@mdp/core";
import { createApp } from "@mdp/core/http";
import { describe, expect, it } from "vitest";
import {
	parsePrometheus,
	tailEvidence,
	toServerSnapshot,
} from "./server-evidence.ts";

/** A /metrics text as the server writes it, with the figures given. */
function exposition(o: {
	minor: [number, number];
	major: [number, number];
	p99: number;
	max: number;
	buckets: [string, number][];
}): string {
	return [
		"# HELP nodejs_eventloop_lag_p99_seconds The 99th percentile of the recorded event loop delays.",
		`nodejs_eventloop_lag_p99_seconds ${o.p99}`,
		`nodejs_eventloop_lag_max_seconds ${o.max}`,
		`nodejs_gc_duration_seconds_sum{kind="minor"} ${o.minor[0]}`,
		`nodejs_gc_duration_seconds_count{kind="minor"} ${o.minor[1]}`,
		`nodejs_gc_duration_seconds_sum{kind="major"} ${o.major[0]}`,
		`nodejs_gc_duration_seconds_count{kind="major"} ${o.major[1]}`,
		...o.buckets.map(
			([le, n]) =>
				`mdp_http_request_duration_seconds_bucket{le="${le}",route="/predict",method="POST"} ${n}`,
		),
		// Another route's buckets must not count.
		'mdp_http_request_duration_seconds_bucket{le="+Inf",route="/v2/health/ready",method="GET"} 999',
	].join("\n");
}

describe("server evidence", () => {
	it("turns two scrapes into GC time per second, mean scavenge, event-loop delay and the app's p99 bucket", () => {
		const before = toServerSnapshot(
			exposition({
				minor: [0.5, 100],
				major: [0.01, 1],
				p99: 0.0104,
				max: 0.05,
				buckets: [
					["0.0005", 100],
					["0.001", 200],
					["0.0025", 300],
					["+Inf", 300],
				],
			}),
		);
		const after = toServerSnapshot(
			exposition({
				// 40 scavenges of 1.5 ms and one 20 ms mark-compact during a 10 s run.
				minor: [0.56, 140],
				major: [0.03, 2],
				p99: 0.0131,
				max: 0.0252,
				// 1,000 requests: 900 ≤ 0.5 ms, 985 ≤ 1 ms, 995 ≤ 2.5 ms: the p99 is in the 2.5 ms bucket.
				buckets: [
					["0.0005", 1000],
					["0.001", 1185],
					["0.0025", 1295],
					["+Inf", 1300],
				],
			}),
		);
		expect(before && after).toBeTruthy();
		const e = tailEvidence(
			before as NonNullable<typeof before>,
			after as NonNullable<typeof after>,
			10,
		);
		expect(e.gc_ms_per_s).toBeCloseTo(8, 9); // (60 + 20) ms over 10 s
		expect(e.minor_gc_mean_ms).toBeCloseTo(1.5, 9);
		expect(e.gc_count).toBe(41);
		expect(e.event_loop_delay_p99_ms).toBeCloseTo(3.1, 9); // 13.1 ms less the 10 ms interval
		expect(e.event_loop_delay_max_ms).toBeCloseTo(15.2, 9);
		expect(e.requests).toBe(1000);
		expect(e.server_p99_ms_le).toBe(2.5);
	});

	it("reads the real server app's exposition, and says nothing for an app without process metrics", async () => {
		const host = new ModelHost();
		await host.load(referenceBundleDir);
		const withProcess = createApp({ host, processMetrics: true });
		const without = createApp({ host });
		try {
			const body = JSON.stringify({ records: [{}] });
			for (const a of [withProcess, without])
				await a.app.request("/predict", {
					method: "POST",
					headers: { "content-type": "application/json" },
					body,
				});
			const text = await (await withProcess.app.request("/metrics")).text();
			const snapshot = toServerSnapshot(text);
			expect(snapshot?.eventLoopP99S).toBeGreaterThan(0);
			expect(snapshot?.predictBuckets.get(Number.POSITIVE_INFINITY)).toBe(1);
			expect(
				toServerSnapshot(await (await without.app.request("/metrics")).text()),
			).toBeUndefined();
			expect(
				parsePrometheus(text).find((s) => s.name === "mdp_http_requests_total"),
			).toEqual({
				name: "mdp_http_requests_total",
				labels: { route: "/predict", method: "POST", status: "400" },
				value: 1,
			});
		} finally {
			withProcess.close();
			without.close();
			await host.close();
		}
	});
});
