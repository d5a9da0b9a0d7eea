import { createHash, randomBytes } from "node:crypto";
import { createServer, request, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
	type Balancer,
	startEmbeddedBalancer,
	type Upstream,
} from "../src/balancer/index.ts";
import { startServeProcess } from "../src/http/index.ts";

/** The embedded balancer's HTTP mode: framing on real sockets, and holding requests while empty. */

const servers: Server[] = [];
const balancers: Balancer[] = [];
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
	for (const stop of stops.splice(0)) await stop();
	for (const b of balancers.splice(0)) await b.close();
	for (const s of servers.splice(0)) {
		s.closeAllConnections();
		await new Promise((r) => s.close(r));
	}
});

const healthCheck = { intervalMs: 100, timeoutMs: 200, fall: 1, rise: 1 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An upstream that echoes what it received: method, URL, body length; `/close` answers Connection: close. */
async function echo(id: string, host: string): Promise<Upstream> {
	const server = createServer((req, res) => {
		if (req.url === "/v2/health/ready") {
			res.writeHead(200).end();
			return;
		}
		let length = 0;
		req.on("data", (c: Buffer) => {
			length += c.length;
		});
		req.on("end", () => {
			const body = `${id} ${req.method} ${req.url} ${length}`;
			if (req.url === "/chunked") {
				res.writeHead(200, { "content-type": "text/plain" });
				res.write(`${id} `);
				setTimeout(() => res.end("chunked"), 20);
				return;
			}
			res.writeHead(200, {
				"content-type": "text/plain",
				"content-length": Buffer.byteLength(body),
				...(req.url === "/close" ? { connection: "close" } : {}),
			});
			res.end(req.method === "HEAD" ? undefined : body);
		});
	});
	await new Promise<void>((r) => server.listen(0, host, r));
	servers.push(server);
	return { id, host, port: (server.address() as AddressInfo).port };
}

/** Writes raw bytes on one connection; resolves with everything read until `done(text)` or close. */
function raw(
	url: string,
	bytes: string,
	done: (text: string) => boolean,
): Promise<string> {
	const { hostname, port } = new URL(url);
	return new Promise((resolve, reject) => {
		const socket = connect({ host: hostname, port: Number(port) });
		let text = "";
		socket.on("data", (c) => {
			text += c.toString("latin1");
			if (done(text)) {
				socket.destroy();
				resolve(text);
			}
		});
		socket.once("error", reject);
		socket.once("close", () => resolve(text));
		socket.write(bytes);
	});
}

const count = (text: string, needle: string) => text.split(needle).length - 1;

describe("embedded balancer, HTTP mode", () => {
	it("answers pipelined requests in order on one connection, HEAD and chunked included", async () => {
		const up = await echo("a", "127.0.1.1");
		const lb = await startEmbeddedBalancer({ upstreams: [up], healthCheck });
		balancers.push(lb);
		const text = await raw(
			lb.url,
			"POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
				"HEAD /two HTTP/1.1\r\nHost: x\r\n\r\n" +
				"POST /three HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n" +
				"GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n",
			(t) => t.includes("0\r\n\r\n"),
		);
		const one = text.indexOf("a POST /one 5");
		const three = text.indexOf("a POST /three 7");
		const chunked = text.indexOf("chunked\r\n0\r\n\r\n");
		expect(one).toBeGreaterThan(0);
		expect(three).toBeGreaterThan(one);
		expect(chunked).toBeGreaterThan(three);
		// HEAD got its head only: its body ("a HEAD /two 0") never appears.
		expect(text).not.toContain("HEAD /two");
		expect(count(text, "HTTP/1.1 200 OK")).toBe(4);
	});

	it("keeps the client connection when an upstream closes its own (a draining server)", async () => {
		const up = await echo("a", "127.0.1.1");
		const lb = await startEmbeddedBalancer({ upstreams: [up], healthCheck });
		balancers.push(lb);
		const text = await raw(
			lb.url,
			"GET /close HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n",
			(t) => t.includes("a GET /after 0"),
		);
		expect(text).toContain("a GET /close 0");
		expect(text).toContain("a GET /after 0");
		expect(text.toLowerCase()).not.toContain("connection: close");
	});

	it("streams bodies larger than it keeps for retries, both ways, byte for byte", async () => {
		// Echo: the upstream answers the request body's sha256 and then 3 MiB of its own, chunked.
		const reply = randomBytes(3 * 1024 * 1024);
		const server = createServer((req, res) => {
			if (req.url === "/v2/health/ready") {
				res.writeHead(200).end();
				return;
			}
			const hash = createHash("sha256");
			req.on("data", (c: Buffer) => hash.update(c));
			req.on("end", () => {
				res.writeHead(200, { "x-body-sha256": hash.digest("hex") });
				for (let i = 0; i < reply.length; i += 64 * 1024)
					res.write(reply.subarray(i, i + 64 * 1024));
				res.end();
			});
		});
		await new Promise<void>((r) => server.listen(0, "127.0.1.1", r));
		servers.push(server);
		const lb = await startEmbeddedBalancer({
			upstreams: [
				{
					id: "big",
					host: "127.0.1.1",
					port: (server.address() as AddressInfo).port,
				},
			],
			healthCheck,
		});
		balancers.push(lb);
		const body = randomBytes(5 * 1024 * 1024);
		for (let round = 0; round < 2; round++) {
			const res = await fetch(`${lb.url}/upload`, { method: "POST", body });
			expect(res.headers.get("x-body-sha256")).toBe(
				createHash("sha256").update(body).digest("hex"),
			);
			const got = Buffer.from(await res.arrayBuffer());
			expect(got.equals(reply)).toBe(true);
		}
		expect((await lb.list())[0]?.inFlight).toBe(0);
	});

	it("cuts the upstream request when its client goes away, and counts it out of flight", async () => {
		let upstreamClosed = false;
		const server = createServer((req, res) => {
			if (req.url === "/v2/health/ready") {
				res.writeHead(200).end();
				return;
			}
			req.socket.once("close", () => {
				upstreamClosed = true;
			});
			setTimeout(() => res.end("late"), 5000).unref();
		});
		await new Promise<void>((r) => server.listen(0, "127.0.1.1", r));
		servers.push(server);
		const lb = await startEmbeddedBalancer({
			upstreams: [
				{
					id: "slow",
					host: "127.0.1.1",
					port: (server.address() as AddressInfo).port,
				},
			],
			healthCheck,
		});
		balancers.push(lb);
		const { hostname, port } = new URL(lb.url);
		const socket = connect({ host: hostname, port: Number(port) });
		socket.on("error", () => {});
		socket.write("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
		await sleep(300);
		expect((await lb.list())[0]?.inFlight).toBe(1);
		socket.destroy();
		await sleep(300);
		expect((await lb.list())[0]?.inFlight).toBe(0);
		expect(upstreamClosed).toBe(true);
	});

	it("answers a malformed request with 400 and a JSON error", async () => {
		const up = await echo("a", "127.0.1.1");
		const lb = await startEmbeddedBalancer({ upstreams: [up], healthCheck });
		balancers.push(lb);
		const text = await raw(
			lb.url,
			"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
			() => false,
		);
		expect(text).toMatch(/^HTTP\/1.1 400 /);
		expect(text).toContain('{"error":"bad Content-Length \\"nope\\""}');
	});

	it("holds requests while no upstream is ready, calls onEmpty once, and serves them when one is", async () => {
		let empty = 0;
		let lb: Balancer | undefined;
		lb = await startEmbeddedBalancer({
			healthCheck,
			hold: { maxRequests: 10, timeoutMs: 5000 },
			onEmpty: () => {
				empty++;
				// The owner starts an instance (here a plain server) and adds it.
				void echo("late", "127.0.1.7").then((up) => lb?.add(up));
			},
		});
		balancers.push(lb);
		const get = (path: string) =>
			new Promise<{ status: number; body: string }>((resolve, reject) => {
				const req = request(`${lb?.url}${path}`, (res) => {
					let body = "";
					res.on("data", (c) => {
						body += c;
					});
					res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
				});
				req.once("error", reject);
				req.end();
			});
		const answers = await Promise.all([get("/p"), get("/q"), get("/r")]);
		expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
		expect(answers.map((a) => a.body).sort()).toEqual([
			"late GET /p 0",
			"late GET /q 0",
			"late GET /r 0",
		]);
		expect(empty).toBe(1);
	});

	it("answers 503 with Retry-After when the hold queue is full or the wait times out", async () => {
		let empty = 0;
		const lb = await startEmbeddedBalancer({
			healthCheck,
			hold: { maxRequests: 1, timeoutMs: 300 },
			onEmpty: () => {
				empty++;
			},
		});
		balancers.push(lb);
		const started = performance.now();
		let firstDone = false;
		const first = raw(
			lb.url,
			"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
			() => false,
		).finally(() => {
			firstDone = true;
		});
		await sleep(50);
		const second = await raw(
			lb.url,
			"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
			() => false,
		);
		// Queue full: refused at once, while the first one is still held.
		expect(firstDone).toBe(false);
		expect(second).toMatch(/^HTTP\/1.1 503 /);
		expect(second).toContain("Retry-After: 1");
		const timedOut = await first;
		expect(performance.now() - started).toBeGreaterThanOrEqual(290);
		expect(timedOut).toMatch(/^HTTP\/1.1 503 /);
		expect(timedOut).toContain("Retry-After: 1");
		expect(empty).toBe(1);
	});
});

describe("clients that go away in the middle of a run", () => {
	it("leave no upstream connection paused in the pool: every later request is answered", async () => {
		// Eight keep-alive clients sending back to back, dropped all at once (what a load driver does at
		// the end of a run). An answer whose last bytes met a client's backpressure used to leave its
		// upstream connection paused in the pool; the next request on it then waited forever.
		const server = await startServeProcess({ args: ["--bare"] });
		stops.push(() => server.stop());
		const { hostname, port: serverPort } = new URL(server.url);
		const lb = await startEmbeddedBalancer({
			upstreams: [{ id: "a", host: hostname, port: Number(serverPort) }],
			healthCheck,
		});
		balancers.push(lb);
		await sleep(150);
		const { port } = new URL(lb.url);
		const request = "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n";
		for (let round = 0; round < 4; round++) {
			const clients = Array.from({ length: 8 }, () =>
				connect({ host: "127.0.0.1", port: Number(port) }),
			);
			for (const client of clients) {
				client.on("error", () => {});
				let text = "";
				client.on("data", (c: Buffer) => {
					text += c.toString("latin1");
					let end = text.indexOf('{"live":true}');
					while (end >= 0) {
						text = text.slice(end + 13);
						client.write(request);
						end = text.indexOf('{"live":true}');
					}
				});
				client.write(request);
			}
			await sleep(300);
			for (const client of clients) client.destroy();
			await sleep(100);
			const answers = await Promise.all(
				Array.from({ length: 8 }, () =>
					Promise.race([
						raw(lb.url, request, (t) => t.endsWith('{"live":true}')),
						sleep(3000).then(() => "no answer within 3 s"),
					]),
				),
			);
			expect(
				answers.map((a) => a.slice(0, 15)),
				`round ${round + 1}`,
			).toEqual(answers.map(() => "HTTP/1.1 200 OK"));
		}
		expect((await lb.list())[0]?.inFlight).toBe(0);
	});
});
