import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { loadBundle, readGoldenSet, referenceBundleDir } from "@mdp/core";
import { afterEach, describe, expect, it } from "vitest";
import {
	measureDriverFloor,
	renderAgreement,
	runAgreement,
} from "../src/agree.ts";
import { findK6 } from "../src/load/run-k6.ts";
import { findWrk } from "../src/load/run-wrk.ts";

let server: Server | undefined;
afterEach(async () => {
	await new Promise((r) => (server ? server.close(r) : r(undefined)));
	server = undefined;
});

/** A loopback server that answers every POST after `delayMs` (0: at once). */
async function start(delayMs: number): Promise<string> {
	server = createServer((req, res) => {
		req.resume();
		req.on("end", () => {
			const answer = () => {
				res.writeHead(req.url === "/predict" ? 200 : 404, {
					"content-type": "application/json",
				});
				res.end('{"predictions":[]}');
			};
			if (delayMs) setTimeout(answer, delayMs);
			else answer();
		});
	});
	await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
	return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const workload = async () => ({
	golden: await readGoldenSet(join(referenceBundleDir, "golden.jsonl")),
	manifest: (await loadBundle(referenceBundleDir)).manifest,
});

describe("measureDriverFloor", () => {
	it("puts the driver and the raw socket on the same server and reports the driver's excess slice by slice", async () => {
		const url = await start(10);
		const floor = await measureDriverFloor({
			url,
			workload: await workload(),
			slices: 2,
			sliceS: 1,
			rate: 50,
		});
		expect(floor.rate_rps).toBe(50);
		expect(floor.driver.p50_ms.rounds).toHaveLength(2);
		expect(floor.reference.p50_ms.rounds).toHaveLength(2);
		// Both see the server's 10 ms hold: neither can measure less.
		for (const x of [
			...floor.driver.p50_ms.rounds,
			...floor.reference.p50_ms.rounds,
		])
			expect(x).toBeGreaterThanOrEqual(9.9);
		floor.extra_p50_ms.rounds.forEach((extra, i) => {
			expect(extra).toBeCloseTo(
				(floor.driver.p50_ms.rounds[i] as number) -
					(floor.reference.p50_ms.rounds[i] as number),
				9,
			);
		});
	});
});

describe("runAgreement", () => {
	it("runs every client in each slice and reports each one's figures, naming the clients it could not run", async () => {
		const url = await start(0);
		const agreement = await runAgreement({
			url,
			workload: await workload(),
			target: "a test server",
			pinning: "not pinned",
			slices: 1,
			sliceS: 1,
			vus: 4,
			lightRate: 50,
		});
		const clients = agreement.rows.map((r) => r.client);
		expect(clients).toContain("embedded driver (4 VUs)");
		expect(clients).toContain("embedded driver (open loop)");
		expect(clients).toContain("reference: one raw socket");
		if (findWrk()) expect(clients).toContain("wrk -t1 -c4");
		if (!findK6())
			expect(agreement.missing.join(" ")).toMatch(/k6: not installed/);
		for (const row of agreement.rows) {
			expect(row.rps.rounds).toHaveLength(1);
			expect(row.rps.median).toBeGreaterThan(0);
			expect(Number.isFinite(row.p50_ms.median)).toBe(true);
		}
		const light = agreement.rows.filter((r) => r.load.startsWith("light"));
		// The open-loop clients keep the rate (50 requests in 1 s).
		for (const r of light.filter((r) => !r.client.startsWith("wrk")))
			expect(r.rps.median).toBeGreaterThan(40);
		const md = renderAgreement(agreement);
		expect(md).toMatch(/^Agreement of the load clients, \d{4}-\d\d-\d\d/);
		expect(md).toContain("| light (50 req/s) | reference: one raw socket | ");
		expect(md).toContain("Embedded driver minus reference");
	}, 60_000);
});
