import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { findWrk, luaString, parseWrkLine, runWrk } from "./run-wrk.ts";

const wrk = findWrk();

describe("parseWrkLine", () => {
	it("reads the script's summary line: errors are socket errors plus non-2xx/3xx answers", () => {
		expect(
			parseWrkLine(
				"Running 2s test @ http://127.0.0.1:1\nMDP-WRK 1000 2000000 3 7 410 900 2500\n",
			),
		).toEqual({
			requests: 1000,
			errors: 10,
			rps: 495,
			p50_ms: 0.41,
			p90_ms: 0.9,
			p99_ms: 2.5,
			elapsedS: 2,
		});
		expect(parseWrkLine("wrk printed nothing of ours")).toBeUndefined();
	});

	it("quotes any body as a Lua string byte for byte", () => {
		expect(luaString('{"a":"é\\\\"}')).toBe(
			'"{\\034a\\034:\\034\\195\\169\\092\\092\\034}"',
		);
	});
});

describe("runWrk (a real wrk against a real server)", () => {
	let server: Server | undefined;
	afterEach(async () => {
		await new Promise((r) => (server ? server.close(r) : r(undefined)));
		server = undefined;
	});

	it.skipIf(!wrk && process.env.CI !== "true")(
		"posts every body in turn, as JSON to the URL's path, and counts refused ones as errors",
		async () => {
			const seen = new Set<string>();
			server = createServer((req, res) => {
				let body = "";
				req.on("data", (c) => {
					body += c;
				});
				req.on("end", () => {
					const ok =
						req.method === "POST" &&
						req.url === "/predict" &&
						req.headers["content-type"] === "application/json";
					seen.add(body);
					const parsed = JSON.parse(body) as { island: string };
					res.writeHead(ok && parsed.island !== "Torgersen" ? 200 : 400);
					res.end("{}");
				});
			});
			await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
			const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/predict`;
			const bodies = [
				'{"island":"Biscoe"}',
				'{"island":"Dream"}',
				'{"island":"Torgersen"}',
				'{"island":"Bíscoe \\"quoted\\""}',
			];
			const run = await runWrk({
				wrk: wrk as string,
				url,
				bodies,
				connections: 2,
				durationS: 1,
				delayMs: 10,
			});
			expect([...seen].sort()).toEqual([...bodies].sort());
			expect(run.requests).toBeGreaterThan(20);
			// One body in four is refused; the count is wrk's own.
			expect(run.errors / run.requests).toBeGreaterThan(0.2);
			expect(run.errors / run.requests).toBeLessThan(0.3);
			expect(run.cpu_s).toBeGreaterThanOrEqual(0);
		},
	);
});
