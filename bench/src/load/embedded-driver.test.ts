import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { arrivalTimes, runScenario } from "./embedded-driver.ts";
import { percentileMs } from "./histogram.ts";
import { createHttpSend } from "./http-send.ts";

let server: Server | undefined;
afterEach(async () => {
	await new Promise((r) => (server ? server.close(r) : r(undefined)));
	server = undefined;
});

/** A loopback server whose event loop freezes once for `stallMs` after `stallAfterMs`, like a GC pause. */
async function stallingServer(
	stallAfterMs: number,
	stallMs: number,
): Promise<string> {
	const started = Date.now();
	let stalled = false;
	server = createServer((req, res) => {
		req.resume();
		req.on("end", () => {
			if (!stalled && Date.now() - started > stallAfterMs) {
				stalled = true;
				const until = Date.now() + stallMs;
				while (Date.now() < until) {
					// Busy: nothing else runs, exactly what a stop-the-world pause does.
				}
			}
			res.end("{}");
		});
	});
	await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
	return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

describe("arrivalTimes", () => {
	it("spaces a constant rate evenly", () => {
		const t = arrivalTimes({
			id: "x",
			executor: "constant-arrival-rate",
			rate: 100,
			durationS: 2,
			payload: "predict-1",
			maxVUs: 1,
		});
		expect(t.length).toBe(200);
		expect(t[1]).toBe(1e7);
	});

	it("integrates a linear ramp: 0 → 100 req/s over 2 s is about 100 arrivals, denser at the end", () => {
		const t = arrivalTimes({
			id: "x",
			executor: "ramping-arrival-rate",
			startRate: 0,
			stages: [{ target: 100, durationS: 2 }],
			payload: "predict-1",
			maxVUs: 1,
		});
		expect(t.length).toBeGreaterThan(85);
		expect(t.length).toBeLessThan(115);
		expect(t.filter((x) => x > 1e9).length).toBeGreaterThan(
			t.filter((x) => x <= 1e9).length,
		);
	});
});

describe("runScenario", () => {
	it("open loop: a 200 ms stall shows in the tail, timed from the intended send time (no coordinated omission)", async () => {
		const url = await stallingServer(500, 200);
		const client = createHttpSend(url, ["{}"], 64);
		const run = await runScenario(
			{
				id: "x",
				executor: "constant-arrival-rate",
				rate: 200,
				durationS: 2,
				payload: "predict-1",
				maxVUs: 64,
			},
			client.send,
		);
		client.close();
		expect(run.requests + run.dropped).toBe(400);
		expect(run.errors).toBe(0);
		// About 40 arrivals (10%) fall inside the stall and wait up to 200 ms.
		expect(percentileMs(run.latency, 99)).toBeGreaterThan(100);
		expect(percentileMs(run.latency, 50)).toBeLessThan(20);
		expect(run.elapsedS).toBeGreaterThan(1.9);
	});

	it("closed loop hides the same stall from most percentiles: only the requests in flight see it", async () => {
		const url = await stallingServer(500, 200);
		const client = createHttpSend(url, ["{}"], 4);
		const run = await runScenario(
			{
				id: "x",
				executor: "constant-vus",
				vus: 4,
				durationS: 1.5,
				payload: "predict-1",
			},
			client.send,
		);
		client.close();
		expect(run.requests).toBeGreaterThan(100);
		expect(percentileMs(run.latency, 90)).toBeLessThan(20);
		expect(run.latency.maxValue / 1000).toBeGreaterThan(150);
	});

	it("counts arrivals it could not send because every VU was busy, as k6 counts dropped iterations", async () => {
		const url = await stallingServer(0, 300);
		const client = createHttpSend(url, ["{}"], 1);
		const run = await runScenario(
			{
				id: "x",
				executor: "constant-arrival-rate",
				rate: 100,
				durationS: 1,
				payload: "predict-1",
				maxVUs: 1,
			},
			client.send,
		);
		client.close();
		expect(run.dropped).toBeGreaterThan(20);
		expect(run.requests + run.dropped).toBe(100);
	});
});
