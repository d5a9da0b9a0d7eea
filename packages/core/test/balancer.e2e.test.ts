import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
	type Balancer,
	findHaproxy,
	startEmbeddedBalancer,
	startHaproxyBalancer,
	toHaproxyConfig,
	type Upstream,
} from "../src/balancer/index.ts";

/** A tiny upstream: answers its id, readiness can be toggled, responses can be delayed. */
interface Backend extends Upstream {
	ready: boolean;
	delayMs: number;
	hits: number;
	server: Server;
	kill(): Promise<void>;
}

const backends: Backend[] = [];
const balancers: Balancer[] = [];
afterEach(async () => {
	for (const b of balancers.splice(0)) await b.close();
	for (const b of backends.splice(0)) await b.kill();
});

async function backend(id: string, host = "127.0.0.1"): Promise<Backend> {
	const b = { id, host, port: 0, ready: true, delayMs: 0, hits: 0 } as Backend;
	b.server = createServer((req, res) => {
		if (req.url === "/v2/health/ready") {
			res.writeHead(b.ready ? 200 : 503).end();
			return;
		}
		b.hits++;
		setTimeout(
			() => res.writeHead(200, { "content-type": "text/plain" }).end(id),
			b.delayMs,
		);
	});
	await new Promise<void>((r) => b.server.listen(0, host, r));
	b.port = (b.server.address() as AddressInfo).port;
	b.kill = () =>
		new Promise<void>((resolve) => {
			b.server.closeAllConnections();
			b.server.close(() => resolve());
		});
	backends.push(b);
	return b;
}

/** One request on a fresh connection (the unit an L4 balancer balances). */
function get(url: string): Promise<{ status: number; body: string }> {
	return new Promise((resolve, reject) => {
		const req = request(`${url}/x`, { agent: false }, (res) => {
			let body = "";
			res.on("data", (c) => {
				body += c;
			});
			res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
		});
		req.once("error", reject);
		req.end();
	});
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const healthCheck = { intervalMs: 100, timeoutMs: 200, fall: 1, rise: 1 };

async function freePort(): Promise<number> {
	const s = createServer();
	await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
	const { port } = s.address() as AddressInfo;
	await new Promise((r) => s.close(r));
	return port;
}

const kinds: [
	"embedded" | "haproxy",
	(upstreams: Upstream[]) => Promise<Balancer>,
][] = [
	[
		"embedded",
		(upstreams) => startEmbeddedBalancer({ upstreams, healthCheck }),
	],
	[
		"haproxy",
		async (upstreams) =>
			startHaproxyBalancer({ port: await freePort(), upstreams, healthCheck }),
	],
];

describe.each(kinds)("%s balancer", (kind, start) => {
	const available = kind === "embedded" || findHaproxy() !== undefined;

	async function pool(n: number) {
		const list = await Promise.all(
			Array.from({ length: n }, (_, i) => backend(`b${i}`, `127.0.1.${i + 1}`)),
		);
		const lb = await start(
			list.map(({ id, host, port }) => ({ id, host, port })),
		);
		balancers.push(lb);
		// Wait until every upstream passed a check.
		for (
			let i = 0;
			i < 50 && (await lb.list()).filter((u) => u.healthy).length < n;
			i++
		)
			await sleep(50);
		return { lb, list };
	}

	it.runIf(available)(
		"spreads requests over healthy upstreams on distinct loopback hosts",
		async () => {
			const { lb, list } = await pool(3);
			const results = await Promise.all(
				Array.from({ length: 60 }, () => get(lb.url)),
			);
			expect(results.every((r) => r.status === 200)).toBe(true);
			for (const b of list) expect(b.hits, b.id).toBeGreaterThanOrEqual(8);
			expect((await lb.list()).map((u) => u.id).sort()).toEqual([
				"b0",
				"b1",
				"b2",
			]);
		},
	);

	it.runIf(available)(
		"takes an unhealthy upstream out of the pool and back in",
		async () => {
			const { lb, list } = await pool(2);
			const [a, b] = list as [Backend, Backend];
			b.ready = false;
			await sleep(400);
			expect((await lb.list()).find((u) => u.id === "b1")?.healthy).toBe(false);
			const before = b.hits;
			await Promise.all(Array.from({ length: 20 }, () => get(lb.url)));
			expect(b.hits).toBe(before);
			expect(a.hits).toBeGreaterThanOrEqual(20);
			b.ready = true;
			await sleep(400);
			await Promise.all(Array.from({ length: 20 }, () => get(lb.url)));
			expect(b.hits).toBeGreaterThan(before);
		},
	);

	it.runIf(available)(
		"retries on another upstream when a connection fails, losing no request",
		async () => {
			const { lb, list } = await pool(2);
			await (list[1] as Backend).kill();
			const results = await Promise.all(
				Array.from({ length: 20 }, () => get(lb.url)),
			);
			expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
			expect(results.every((r) => r.body === "b0")).toBe(true);
		},
	);

	it.runIf(available)(
		"drains: no new work, in-flight work finishes, then resolves",
		async () => {
			const { lb, list } = await pool(2);
			const [a, b] = list as [Backend, Backend];
			a.delayMs = 400;
			b.delayMs = 400;
			const inFlight = Promise.all(
				Array.from({ length: 4 }, () => get(lb.url)),
			);
			await sleep(100);
			const busy = (await lb.list()).find((u) => u.id === "b0" && u.active > 0)
				? "b0"
				: "b1";
			const started = performance.now();
			const drained = lb.drain(busy, { timeoutMs: 5000 });
			const during = await Promise.all(
				Array.from({ length: 6 }, () => get(lb.url)),
			);
			expect(during.every((r) => r.status === 200 && r.body !== busy)).toBe(
				true,
			);
			await drained;
			expect(performance.now() - started).toBeGreaterThan(100);
			expect((await inFlight).map((r) => r.status)).toEqual([
				200, 200, 200, 200,
			]);
			expect((await lb.list()).find((u) => u.id === busy)).toMatchObject({
				draining: true,
				active: 0,
			});
		},
	);

	it.runIf(available)("adds and removes upstreams at run time", async () => {
		const { lb } = await pool(1);
		const c = await backend("c9", "127.0.1.9");
		await lb.add(
			{ id: c.id, host: c.host, port: c.port },
			{ waitHealthy: true, timeoutMs: 5000 },
		);
		await Promise.all(Array.from({ length: 30 }, () => get(lb.url)));
		expect(c.hits).toBeGreaterThan(0);
		await lb.remove("c9");
		const before = c.hits;
		await Promise.all(Array.from({ length: 10 }, () => get(lb.url)));
		expect(c.hits).toBe(before);
		expect((await lb.list()).map((u) => u.id)).toEqual(["b0"]);
	});

	it.runIf(available)("answers 503 when no upstream is healthy", async () => {
		const { lb, list } = await pool(1);
		(list[0] as Backend).ready = false;
		await sleep(400);
		const res = await get(lb.url);
		expect(res.status).toBe(503);
	});
});

describe("toHaproxyConfig", () => {
	const config = toHaproxyConfig({
		port: 8000,
		upstreams: [
			{ id: "vm-1", host: "127.0.1.1", port: 8080 },
			{ id: "vm-2", host: "127.0.1.2", port: 8080 },
		],
		statsSocket: "/tmp/x.sock",
	});

	it("balances by least connections with OIP readiness checks and retries", () => {
		expect(config).toContain("balance leastconn");
		expect(config).toContain("option httpchk GET /v2/health/ready");
		expect(config).toContain("retry-on conn-failure empty-response");
		expect(config).toContain("  server vm-2 127.0.1.2:8080 check");
		expect(config).toContain("bind 127.0.0.1:8000");
	});

	it.runIf(findHaproxy() !== undefined)(
		"is accepted by haproxy -c",
		async () => {
			const dir = await mkdtemp(join(tmpdir(), "mdp-hacfg-"));
			try {
				await writeFile(
					join(dir, "haproxy.cfg"),
					config.replace("/tmp/x.sock", join(dir, "s.sock")),
				);
				const check = spawnSync(
					findHaproxy() as string,
					["-c", "-f", join(dir, "haproxy.cfg")],
					{ encoding: "utf8" },
				);
				expect(check.status, check.stderr + check.stdout).toBe(0);
			} finally {
				await rm(dir, { recursive: true, force: true });
			}
		},
	);

	it("refuses a server id HAProxy cannot take", () => {
		expect(() =>
			toHaproxyConfig({
				port: 1,
				upstreams: [{ id: "a b", host: "h", port: 1 }],
			}),
		).toThrow(/cannot name an HAProxy server/);
	});
});
