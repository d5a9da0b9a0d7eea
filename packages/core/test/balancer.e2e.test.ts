import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, createServer, request, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
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
import { runsWith } from "../src/testing/tools.ts";

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

/** A load driver: `clients` keep-alive connections, each sending one request after another. */
function keepAliveLoad(url: string, clients: number) {
	let created = 0;
	const agent = new Agent({ keepAlive: true, maxSockets: clients });
	const createConnection = agent.createConnection.bind(agent);
	agent.createConnection = ((...args: Parameters<typeof createConnection>) => {
		created++;
		return createConnection(...args);
	}) as typeof agent.createConnection;
	const log: { at: number; body: string; status: number }[] = [];
	let running = true;
	const one = () =>
		new Promise<void>((resolve) => {
			const req = request(`${url}/x`, { agent }, (res) => {
				let body = "";
				res.on("data", (c) => {
					body += c;
				});
				res.on("end", () => {
					log.push({
						at: performance.now(),
						body,
						status: res.statusCode ?? 0,
					});
					resolve();
				});
			});
			req.once("error", () => {
				log.push({ at: performance.now(), body: "", status: 0 });
				resolve();
			});
			req.end();
		});
	const loops = Array.from({ length: clients }, async () => {
		while (running) await one();
	});
	return {
		log,
		connections: () => created,
		async stop() {
			running = false;
			await Promise.all(loops);
			agent.destroy();
		},
	};
}

async function until(condition: () => boolean | Promise<boolean>, ms: number) {
	const deadline = performance.now() + ms;
	while (!(await condition())) {
		if (performance.now() > deadline) return false;
		await sleep(20);
	}
	return true;
}

const kinds: [
	"embedded" | "embedded-tcp" | "haproxy",
	(upstreams: Upstream[]) => Promise<Balancer>,
][] = [
	[
		"embedded",
		(upstreams) => startEmbeddedBalancer({ upstreams, healthCheck }),
	],
	[
		"embedded-tcp",
		(upstreams) =>
			startEmbeddedBalancer({ upstreams, healthCheck, mode: "tcp" }),
	],
	[
		"haproxy",
		async (upstreams) =>
			startHaproxyBalancer({ port: await freePort(), upstreams, healthCheck }),
	],
];

describe.each(kinds)("%s balancer", (kind, start) => {
	// With CI=true a missing HAProxy fails the HAProxy tests instead of skipping them.
	const available =
		kind !== "haproxy" || runsWith("haproxy", findHaproxy() !== undefined);
	/** Balances each request (the TCP mode only balances connections: those tests do not apply to it). */
	const perRequest = kind !== "embedded-tcp";

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

	it.runIf(available && perRequest)(
		"keep-alive clients reach an upstream added at run time within 2 s, and leave a drained one within 2 s",
		async () => {
			const { lb } = await pool(2);
			const load = keepAliveLoad(lb.url, 4);
			try {
				await sleep(300);
				const c = await backend("c9", "127.0.1.9");
				await lb.add(
					{ id: c.id, host: c.host, port: c.port },
					{ waitHealthy: true, timeoutMs: 5000 },
				);
				const added = performance.now();
				expect(await until(() => c.hits > 0, 2000)).toBe(true);
				const reachedMs = performance.now() - added;
				expect(reachedMs).toBeLessThan(2000);
				// It takes a share, not a stray request: at least 10 % of what follows.
				const from = load.log.length;
				const hitsBefore = c.hits;
				await sleep(500);
				expect(c.hits - hitsBefore).toBeGreaterThan(
					(load.log.length - from) / 10,
				);
				const drainStarted = performance.now();
				await lb.drain("c9", { timeoutMs: 2000 });
				await sleep(300);
				const after = c.hits;
				const countBefore = load.log.length;
				await sleep(700);
				expect(load.log.length - countBefore).toBeGreaterThan(20);
				expect(c.hits).toBe(after);
				const lastFromC = load.log.filter((r) => r.body === "c9").at(-1);
				expect((lastFromC?.at ?? 0) - drainStarted).toBeLessThan(2000);
			} finally {
				await load.stop();
			}
			expect(load.log.every((r) => r.status === 200)).toBe(true);
			// The clients kept their connections: balance came per request, not from reconnecting.
			expect(load.connections()).toBeLessThanOrEqual(4);
		},
	);

	it.runIf(available)(
		"remove closes the removed upstream's open connections",
		async () => {
			const { lb, list } = await pool(2);
			const [a, b] = list as [Backend, Backend];
			const open = new Set<Socket>();
			b.server.on("connection", (s: Socket) => {
				open.add(s);
				s.once("close", () => open.delete(s));
			});
			// Warm keep-alive connections to b (the balancer may pool them), then hold one request on it.
			await Promise.all(Array.from({ length: 10 }, () => get(lb.url)));
			a.ready = false;
			await until(
				async () => !(await lb.list()).find((u) => u.id === "b0")?.healthy,
				2000,
			);
			b.delayMs = 10_000;
			const started = performance.now();
			const slow = get(lb.url).then(
				(r) => r.status,
				() => 0,
			);
			expect(await until(() => b.hits > 0 && open.size > 0, 2000)).toBe(true);
			await lb.remove("b1");
			expect(await until(() => open.size === 0, 1000)).toBe(true);
			// The client is not left hanging for the 10 s answer it will never get.
			const status = await slow;
			expect(status).not.toBe(200);
			expect(performance.now() - started).toBeLessThan(5000);
			expect((await lb.list()).map((u) => u.id)).toEqual(["b0"]);
		},
	);

	it.runIf(available && perRequest)(
		"reports requests in flight per upstream, not connections",
		async () => {
			const { lb, list } = await pool(2);
			const agent = new Agent({ keepAlive: true, maxSockets: 8 });
			const send = () =>
				new Promise<number>((resolve, reject) => {
					const req = request(`${lb.url}/x`, { agent }, (res) => {
						res.resume();
						res.on("end", () => resolve(res.statusCode ?? 0));
					});
					req.once("error", reject);
					req.end();
				});
			try {
				await Promise.all(Array.from({ length: 8 }, send));
				for (const b of list) b.delayMs = 800;
				const slow = Promise.all(Array.from({ length: 5 }, send));
				await sleep(300);
				const during = await lb.list();
				expect(during.reduce((n, u) => n + u.inFlight, 0)).toBe(5);
				expect(await slow).toEqual([200, 200, 200, 200, 200]);
				await sleep(100);
				// Client connections are still open (keep-alive), yet nothing is in flight.
				const after = await lb.list();
				expect(after.map((u) => u.inFlight)).toEqual([0, 0]);
			} finally {
				agent.destroy();
			}
		},
	);
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

	it.runIf(runsWith("haproxy", findHaproxy() !== undefined))(
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

	it.runIf(runsWith("haproxy", findHaproxy() !== undefined))(
		"startHaproxyBalancer fails with HAProxy's reason when its port is taken",
		async () => {
			const taken = createServer();
			await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
			try {
				await expect(
					startHaproxyBalancer({
						port: (taken.address() as AddressInfo).port,
						upstreams: [],
					}),
				).rejects.toThrow(/haproxy exited: .*(bind|Address already in use)/s);
			} finally {
				await new Promise((r) => taken.close(r));
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
