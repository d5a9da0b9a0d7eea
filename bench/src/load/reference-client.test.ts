import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { percentileMs } from "./histogram.ts";
import { runReferenceClient } from "./reference-client.ts";

let server: Server | undefined;
afterEach(async () => {
	await new Promise((r) => (server ? server.close(r) : r(undefined)));
	server = undefined;
});

/** A loopback server that answers after `delayMs`, with 500 for bodies that ask for it. */
async function slowServer(delayMs: number): Promise<string> {
	server = createServer((req, res) => {
		let body = "";
		req.on("data", (c) => {
			body += c;
		});
		req.on("end", () =>
			setTimeout(() => {
				res.writeHead(body.includes("fail") ? 500 : 200, {
					"content-type": "application/json",
				});
				res.end("{}");
			}, delayMs),
		);
	});
	await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
	return `http://127.0.0.1:${(server.address() as AddressInfo).port}/predict`;
}

describe("runReferenceClient", () => {
	it("sends rate × duration requests on its schedule and times each from its write to the whole answer", async () => {
		const url = await slowServer(20);
		const run = await runReferenceClient({
			url,
			bodies: ['{"records":[]}', '{"fail":true}'],
			rate: 20,
			durationS: 1,
		});
		expect(run.requests).toBe(20);
		expect(run.latency.totalCount).toBe(20);
		// Every other body asks for a 500.
		expect(run.errors).toBe(10);
		// The server holds each answer 20 ms: no latency can be shorter.
		expect(run.latency.minNonZeroValue / 1000).toBeGreaterThanOrEqual(19.9);
		expect(percentileMs(run.latency, 50)).toBeGreaterThanOrEqual(19.9);
		// 20 requests at 20 req/s: the last is due at 0.95 s.
		expect(run.elapsedS).toBeGreaterThan(0.95);
	});

	it("rejects when the server goes away instead of waiting forever", async () => {
		server = createServer((req) => req.socket.destroy());
		await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
		const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
		await expect(
			runReferenceClient({ url, bodies: ["{}"], rate: 50, durationS: 1 }),
		).rejects.toThrow(/closed|reset/);
	});
});
