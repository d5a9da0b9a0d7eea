import { connect, createServer, type Server, type Socket } from "node:net";
import { CoreError } from "../errors.ts";
import { checkHealth } from "./health-check.ts";
import { FramingError, type HeadInfo, HttpFramer } from "./http-framing.ts";
import type {
	Balancer,
	HealthCheckOptions,
	Upstream,
	UpstreamState,
} from "./types.ts";

/** Options of {@link startEmbeddedBalancer}. */
export interface EmbeddedBalancerOptions {
	/** Port to listen on; 0 (the default) picks a free one. */
	port?: number;
	/** Address to bind; loopback by default. */
	hostname?: string;
	upstreams?: Upstream[];
	healthCheck?: HealthCheckOptions;
	/**
	 * `http` (the default): every request goes to the ready upstream with the fewest requests in flight,
	 * over pooled keep-alive upstream connections, so a keep-alive client reaches an upstream added later and
	 * leaves a drained one at its next request. `tcp`: each client connection is spliced to one upstream for
	 * its whole life (L4), the cheapest, but keep-alive clients never move.
	 */
	mode?: "http" | "tcp";
	/**
	 * Tries on other upstreams when a connection cannot be opened, or (HTTP mode) when an upstream closes
	 * without answering a byte (as HAProxy's `retry-on conn-failure empty-response`). Default 2.
	 */
	retries?: number;
	/** Default 1,000 ms. */
	connectTimeoutMs?: number;
	/** Idle pooled upstream connections are closed after this long (HTTP mode). Default 30 s. */
	idleTimeoutMs?: number;
	/**
	 * HTTP mode: when no upstream is ready, hold up to `maxRequests` requests for up to `timeoutMs` instead of
	 * answering 503 at once; they go out as soon as an upstream is ready. Full queue or timeout: 503 with
	 * `Retry-After`. Off by default.
	 */
	hold?: { maxRequests: number; timeoutMs: number };
	/**
	 * Called when a request finds no ready upstream (once per such period, until an upstream is ready
	 * again): the owner can start one (scale from zero).
	 */
	onEmpty?: () => void;
}

interface Member extends UpstreamState {
	successes: number;
	failures: number;
	/** Resolvers of `drain` waiting for `inFlight` to reach 0. */
	drained: (() => void)[];
	/** Idle pooled connections (HTTP mode), most recently used last. */
	idle: UpstreamConnection[];
	/** Every socket open to this upstream. */
	sockets: Set<Socket>;
	removed: boolean;
}

/** A pooled connection to one upstream (HTTP mode). */
interface UpstreamConnection {
	socket: Socket;
	member: Member;
	framer: HttpFramer;
	exchange: Exchange | undefined;
	connected: boolean;
	reusable: boolean;
	/** Bytes of the current exchange's response received. */
	answered: boolean;
	/** When it went back to the pool (`performance.now()`). */
	idleSince: number;
}

/** One request and its response (HTTP mode). */
interface Exchange {
	client: ClientConnection;
	/** Request bytes kept for a retry (and until the connection is open); undefined once too large to keep. */
	sent: Buffer[] | undefined;
	sentBytes: number;
	requestDone: boolean;
	responseStarted: boolean;
	/** The client asked to close (or the response forces it). */
	close: boolean;
	isHead: boolean;
	tries: number;
	/** Upstreams tried so far (ids). */
	tried: string[];
	conn: UpstreamConnection | undefined;
	member: Member | undefined;
	aborted: boolean;
	holdTimer: NodeJS.Timeout | undefined;
}

interface ClientConnection {
	socket: Socket;
	framer: HttpFramer;
	exchange: Exchange | undefined;
	/** Bytes of a pipelined next request, read while the current one is being answered. */
	backlog: Buffer | undefined;
	/** When its last request started (`performance.now()`), for the idle sweep. */
	lastActive: number;
}

/** Requests larger than this are streamed without a copy kept, so they cannot be retried. */
const MAX_RETAINED_BYTES = 2 * 1024 * 1024;

const NO_UPSTREAM_BODY = '{"error":"no healthy upstream; retry later"}';
const NO_UPSTREAM = `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nContent-Length: ${NO_UPSTREAM_BODY.length}\r\nConnection: close\r\n\r\n${NO_UPSTREAM_BODY}`;
const errorResponse = (status: string, message: string) => {
	const body = JSON.stringify({ error: message });
	return `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
};

/**
 * Starts the embedded load balancer. In its default HTTP mode it reads only the framing of each message
 * (request and status lines, `Content-Length`, chunked encoding, `Connection`) and forwards the bytes
 * untouched, choosing an upstream for every request (fewest requests in flight) over pooled keep-alive
 * connections: a keep-alive client reaches an upstream added at run time and leaves a drained one at its
 * next request. A request that got no byte of answer (connection refused, upstream died) is retried on
 * another upstream. Active health checks (the OIP ready endpoint) take upstreams in and out; with `hold`,
 * requests wait while no upstream is ready and `onEmpty` asks the owner for one (scale from zero).
 * `mode: "tcp"` is the plain L4 splice (one upstream per client connection).
 *
 * @example
 * const lb = await startEmbeddedBalancer({
 *   upstreams: [{ id: "vm-1", host: "127.0.1.1", port: 8080 }],
 *   hold: { maxRequests: 100, timeoutMs: 10_000 },
 *   onEmpty: () => void fleet.scale(1),
 * });
 * console.log(lb.url, (await lb.list())[0]?.inFlight);
 */
export async function startEmbeddedBalancer(
	options: EmbeddedBalancerOptions = {},
): Promise<Balancer> {
	const path = options.healthCheck?.path ?? "/v2/health/ready";
	const intervalMs = options.healthCheck?.intervalMs ?? 1000;
	const timeoutMs = options.healthCheck?.timeoutMs ?? 500;
	const rise = options.healthCheck?.rise ?? 1;
	const fall = options.healthCheck?.fall ?? 2;
	const retries = options.retries ?? 2;
	const connectTimeoutMs = options.connectTimeoutMs ?? 1000;
	const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
	const mode = options.mode ?? "http";
	const members = new Map<string, Member>();
	/** `members` as an array, rebuilt on add and remove (not per request). */
	let memberList: Member[] = [];
	const clientSockets = new Set<Socket>();
	const clients = new Set<ClientConnection>();
	const waiting: Exchange[] = [];
	let emptyNotified = false;
	let closed = false;
	let turn = 0;

	function pick(exclude: readonly string[]): Member | undefined {
		let best: Member | undefined;
		const all = memberList;
		// Start the scan at a rotating offset, so ties between equally loaded upstreams take turns.
		turn = (turn + 1) % Math.max(all.length, 1);
		for (let i = 0; i < all.length; i++) {
			const m = all[(turn + i) % all.length] as Member;
			if (!m.healthy || m.draining) continue;
			if (exclude.length > 0 && exclude.includes(m.id)) continue;
			if (!best || m.inFlight < best.inFlight) best = m;
		}
		return best;
	}

	function noneReady(): void {
		if (emptyNotified) return;
		emptyNotified = true;
		options.onEmpty?.();
	}

	function release(member: Member): void {
		member.inFlight--;
		if (member.inFlight === 0)
			for (const resolve of member.drained.splice(0)) resolve();
	}

	function markDown(member: Member): void {
		member.healthy = false;
		member.successes = 0;
	}

	// ---- TCP mode: one upstream per client connection, spliced ----

	function routeTcp(client: Socket, tried: string[]): void {
		const member = pick(tried);
		if (!member) {
			noneReady();
			client.end(NO_UPSTREAM);
			return;
		}
		tried.push(member.id);
		member.inFlight++;
		const upstream = connect({
			host: member.host,
			port: member.port,
			noDelay: true,
		});
		member.sockets.add(upstream);
		let connected = false;
		upstream.setTimeout(connectTimeoutMs, () =>
			upstream.destroy(new Error("connect timeout")),
		);
		upstream.once("connect", () => {
			connected = true;
			member.total++;
			upstream.setTimeout(0);
			client.pipe(upstream);
			upstream.pipe(client);
		});
		upstream.once("error", () => {
			if (connected) {
				client.destroy();
				return;
			}
			// Nothing was sent yet: mark the upstream down (passive check) and try another one.
			markDown(member);
			if (tried.length <= retries) routeTcp(client, tried);
			else client.end(NO_UPSTREAM);
		});
		upstream.once("close", () => {
			member.sockets.delete(upstream);
			release(member);
			if (connected) client.destroy();
		});
		client.once("close", () => upstream.destroy());
	}

	// ---- HTTP mode: an upstream per request over pooled connections ----

	function acceptHttp(socket: Socket): void {
		const client: ClientConnection = {
			socket,
			framer: undefined as unknown as HttpFramer,
			exchange: undefined,
			backlog: undefined,
			lastActive: performance.now(),
		};
		clients.add(client);
		client.framer = new HttpFramer("request", {
			onHead(_head, info) {
				startExchange(client, info);
				return undefined;
			},
			onData(bytes) {
				if (client.exchange) sendRequestBytes(client.exchange, bytes);
			},
			onEnd() {
				if (client.exchange) client.exchange.requestDone = true;
			},
		});
		socket.on("data", (chunk: Buffer) => readClient(client, chunk));
		socket.once("close", () => {
			clients.delete(client);
			const ex = client.exchange;
			if (!ex) return;
			ex.aborted = true;
			unhold(ex);
			if (ex.conn) ex.conn.socket.destroy();
		});
	}

	function readClient(client: ClientConnection, chunk: Buffer): void {
		if (client.socket.writableEnded) return; // answered by the balancer and closing
		let offset = 0;
		while (offset < chunk.length) {
			if (client.exchange?.requestDone) {
				// A pipelined request: keep it until the current response is complete.
				const rest = chunk.subarray(offset);
				client.backlog = client.backlog
					? Buffer.concat([client.backlog, rest])
					: rest;
				client.socket.pause();
				return;
			}
			try {
				offset += client.framer.push(
					offset === 0 ? chunk : chunk.subarray(offset),
				);
			} catch (error) {
				if (!(error instanceof FramingError)) throw error;
				if (client.exchange?.responseStarted) client.socket.destroy();
				else {
					if (client.exchange) abandon(client.exchange);
					client.socket.end(errorResponse("400 Bad Request", error.message));
				}
				return;
			}
		}
	}

	function startExchange(client: ClientConnection, info: HeadInfo): void {
		const ex: Exchange = {
			client,
			sent: [],
			sentBytes: 0,
			requestDone: false,
			responseStarted: false,
			close: info.close,
			isHead: info.method === "HEAD",
			tries: 0,
			tried: [],
			conn: undefined,
			member: undefined,
			aborted: false,
			holdTimer: undefined,
		};
		client.exchange = ex;
		client.lastActive = performance.now();
		routeHttp(ex);
	}

	/** Forgets an exchange that will get no upstream answer (the client is answered by the balancer). */
	function abandon(ex: Exchange): void {
		ex.aborted = true;
		unhold(ex);
		if (ex.conn) ex.conn.socket.destroy();
	}

	function sendRequestBytes(ex: Exchange, bytes: Buffer): void {
		if (ex.aborted) return;
		const conn = ex.conn;
		if (ex.sent) {
			ex.sent.push(bytes);
			ex.sentBytes += bytes.length;
			if (ex.sentBytes > MAX_RETAINED_BYTES && conn?.connected)
				ex.sent = undefined;
		}
		if (conn?.connected && !conn.socket.write(bytes)) {
			ex.client.socket.pause();
			conn.socket.once("drain", () => ex.client.socket.resume());
		}
	}

	function respond(ex: Exchange, text: string): void {
		abandon(ex);
		ex.client.exchange = undefined;
		ex.client.socket.end(text);
	}

	function routeHttp(ex: Exchange): void {
		let member = pick(ex.tried);
		// A retry after an upstream closed a reused connection may go back to the same, still healthy, one.
		if (!member && ex.tries > 0) member = pick([]);
		if (!member) {
			noneReady();
			if (options.hold && ex.tries === 0) {
				if (waiting.length >= options.hold.maxRequests) {
					respond(ex, NO_UPSTREAM);
					return;
				}
				waiting.push(ex);
				ex.client.socket.pause();
				ex.holdTimer = setTimeout(() => {
					unhold(ex);
					respond(ex, NO_UPSTREAM);
				}, options.hold.timeoutMs);
				return;
			}
			respond(ex, NO_UPSTREAM);
			return;
		}
		ex.tries++;
		ex.tried.push(member.id);
		ex.member = member;
		member.inFlight++;
		const conn = member.idle.pop() ?? openConnection(member);
		conn.exchange = ex;
		conn.answered = false;
		conn.framer.requestWasHead = ex.isHead;
		ex.conn = conn;
		if (conn.connected) flush(ex, conn);
	}

	function unhold(ex: Exchange): void {
		if (ex.holdTimer === undefined) return;
		clearTimeout(ex.holdTimer);
		ex.holdTimer = undefined;
		const i = waiting.indexOf(ex);
		if (i >= 0) waiting.splice(i, 1);
		ex.client.socket.resume();
	}

	function flushWaiting(): void {
		while (waiting.length > 0 && pick([])) {
			const ex = waiting[0] as Exchange;
			unhold(ex);
			routeHttp(ex);
		}
	}

	function flush(ex: Exchange, conn: UpstreamConnection): void {
		const sent = ex.sent ?? [];
		if (sent.length === 0) return; // the usual case: the head is forwarded as it is read
		const all = sent.length === 1 ? (sent[0] as Buffer) : Buffer.concat(sent);
		if (ex.sentBytes > MAX_RETAINED_BYTES) ex.sent = undefined;
		if (all.length > 0 && !conn.socket.write(all)) {
			ex.client.socket.pause();
			conn.socket.once("drain", () => ex.client.socket.resume());
		}
	}

	function openConnection(member: Member): UpstreamConnection {
		const socket = connect({
			host: member.host,
			port: member.port,
			noDelay: true,
		});
		const conn: UpstreamConnection = {
			socket,
			member,
			framer: undefined as unknown as HttpFramer,
			exchange: undefined,
			connected: false,
			reusable: true,
			answered: false,
			idleSince: 0,
		};
		conn.framer = new HttpFramer("response", {
			onHead(head, info) {
				const ex = conn.exchange as Exchange;
				if (info.status < 200) return undefined;
				ex.responseStarted = true;
				if (info.untilClose) ex.close = true;
				if (info.close) {
					conn.reusable = false;
					// A draining upstream asks to close: that is about this upstream connection, not the client's.
					if (!ex.close && info.connectionLine) {
						const [from, to] = info.connectionLine;
						return Buffer.concat([head.subarray(0, from), head.subarray(to)]);
					}
				}
				return undefined;
			},
			onData(bytes) {
				const ex = conn.exchange as Exchange;
				if (!ex.client.socket.write(bytes)) {
					socket.pause();
					ex.client.socket.once("drain", () => socket.resume());
				}
			},
			onEnd() {
				complete(conn);
			},
		});
		member.sockets.add(socket);
		socket.setTimeout(connectTimeoutMs, () => socket.destroy());
		socket.once("connect", () => {
			conn.connected = true;
			socket.setTimeout(0);
			if (conn.exchange) flush(conn.exchange, conn);
		});
		socket.on("data", (chunk: Buffer) => readUpstream(conn, chunk));
		socket.on("error", () => {});
		socket.once("close", () => upstreamClosed(conn));
		return conn;
	}

	function readUpstream(conn: UpstreamConnection, chunk: Buffer): void {
		let offset = 0;
		while (offset < chunk.length) {
			if (!conn.exchange) {
				// Bytes nobody asked for: this connection cannot be trusted any more.
				conn.reusable = false;
				conn.socket.destroy();
				return;
			}
			conn.answered = true;
			try {
				offset += conn.framer.push(
					offset === 0 ? chunk : chunk.subarray(offset),
				);
			} catch (error) {
				if (!(error instanceof FramingError)) throw error;
				const ex = conn.exchange;
				conn.reusable = false;
				conn.socket.destroy();
				if (ex.responseStarted) ex.client.socket.destroy();
				else
					respond(
						ex,
						errorResponse(
							"502 Bad Gateway",
							`upstream ${conn.member.id}: ${error.message}`,
						),
					);
				return;
			}
		}
	}

	/** The response is complete: the client gets its next request read, the connection goes back to the pool. */
	function complete(conn: UpstreamConnection): void {
		const ex = conn.exchange as Exchange;
		const member = conn.member;
		conn.exchange = undefined;
		member.total++;
		release(member);
		if (!ex.requestDone) {
			// Answered before the whole request was sent (413, say): neither side can be reused.
			conn.reusable = false;
			ex.close = true;
		}
		if (
			conn.reusable &&
			!member.removed &&
			!member.draining &&
			!conn.socket.destroyed &&
			!closed
		) {
			// The response is all read: a pause for the client's backpressure (whose drain may never come, if
			// the client goes away) must not follow the connection back into the pool, where the next
			// exchange would wait forever for an answer nobody reads.
			conn.socket.resume();
			conn.idleSince = performance.now();
			member.idle.push(conn);
		} else {
			member.sockets.delete(conn.socket);
			conn.socket.destroy();
		}
		const client = ex.client;
		client.exchange = undefined;
		if (ex.close) {
			client.socket.end();
			return;
		}
		const backlog = client.backlog;
		if (backlog) {
			client.backlog = undefined;
			client.socket.resume();
			readClient(client, backlog);
		}
	}

	function upstreamClosed(conn: UpstreamConnection): void {
		const member = conn.member;
		member.sockets.delete(conn.socket);
		const i = member.idle.indexOf(conn);
		if (i >= 0) member.idle.splice(i, 1);
		const ex = conn.exchange;
		if (!ex) return;
		if (conn.framer.end()) {
			// The body lasted until close: complete (complete() cleared the exchange).
			return;
		}
		conn.exchange = undefined;
		ex.conn = undefined;
		release(member);
		if (ex.aborted) return;
		if (!conn.connected) markDown(member);
		if (
			!conn.answered &&
			ex.sent !== undefined &&
			ex.tries <= retries &&
			!closed
		) {
			routeHttp(ex);
			return;
		}
		if (ex.responseStarted) ex.client.socket.destroy();
		else
			respond(
				ex,
				errorResponse(
					"502 Bad Gateway",
					`upstream ${member.id} closed the connection without an answer`,
				),
			);
	}

	const server: Server = createServer(
		{ noDelay: true, pauseOnConnect: mode === "tcp" },
		(client) => {
			clientSockets.add(client);
			client.once("close", () => clientSockets.delete(client));
			client.on("error", () => client.destroy());
			if (mode === "tcp") routeTcp(client, []);
			else acceptHttp(client);
		},
	);
	await new Promise<void>((resolve, reject) => {
		server.once("error", reject);
		server.listen(options.port ?? 0, options.hostname ?? "127.0.0.1", () =>
			resolve(),
		);
	});
	const address = server.address();
	const port = typeof address === "object" && address ? address.port : 0;

	function becameReady(): void {
		emptyNotified = false;
		flushWaiting();
	}

	async function probe(member: Member): Promise<void> {
		const ok = await checkHealth(member, path, timeoutMs);
		if (ok) {
			member.failures = 0;
			member.successes++;
			if (member.successes >= rise && !member.healthy) {
				member.healthy = true;
				if (!member.draining && !member.removed) becameReady();
			}
		} else {
			member.successes = 0;
			member.failures++;
			if (member.failures >= fall) member.healthy = false;
		}
	}
	let checking = false;
	const timer = setInterval(async () => {
		if (checking) return;
		checking = true;
		await Promise.all([...members.values()].map(probe));
		checking = false;
	}, intervalMs);
	timer.unref();
	// Idle sweep (cheaper than a timer re-armed on every request): pooled upstream connections unused for
	// `idleTimeoutMs`, and client connections silent for 65 s, are closed.
	const sweeper = setInterval(
		() => {
			const now = performance.now();
			for (const m of memberList) {
				while (
					m.idle.length > 0 &&
					now - (m.idle[0] as UpstreamConnection).idleSince > idleTimeoutMs
				) {
					const conn = m.idle.shift() as UpstreamConnection;
					m.sockets.delete(conn.socket);
					conn.socket.destroy();
				}
			}
			for (const c of clients)
				if (!c.exchange && now - c.lastActive > 65_000) c.socket.destroy();
		},
		Math.min(idleTimeoutMs / 2, 5000),
	);
	sweeper.unref();

	function closeIdle(member: Member): void {
		for (const conn of member.idle.splice(0)) {
			member.sockets.delete(conn.socket);
			conn.socket.destroy();
		}
	}

	const balancer: Balancer = {
		kind: "embedded",
		url: `http://${options.hostname ?? "127.0.0.1"}:${port}`,
		port,
		async add(upstream, addOptions = {}) {
			if (members.has(upstream.id))
				throw new CoreError(
					"INVALID_ARGUMENT",
					`upstream "${upstream.id}" is already in the pool`,
				);
			const member: Member = {
				...upstream,
				healthy: false,
				draining: false,
				inFlight: 0,
				active: 0,
				total: 0,
				successes: 0,
				failures: 0,
				drained: [],
				idle: [],
				sockets: new Set(),
				removed: false,
			};
			members.set(upstream.id, member);
			memberList = [...members.values()];
			await probe(member);
			if (!addOptions.waitHealthy) return;
			const deadline = performance.now() + (addOptions.timeoutMs ?? 30_000);
			while (!member.healthy) {
				if (performance.now() > deadline || !members.has(upstream.id)) {
					throw new CoreError(
						"UNAVAILABLE",
						`upstream "${upstream.id}" did not become healthy`,
					);
				}
				await new Promise((r) => setTimeout(r, Math.min(intervalMs, 100)));
				await probe(member);
			}
		},
		async remove(id) {
			const member = members.get(id);
			if (!member) return;
			members.delete(id);
			memberList = [...members.values()];
			member.removed = true;
			member.idle.length = 0;
			for (const socket of [...member.sockets]) socket.destroy();
			member.sockets.clear();
		},
		async drain(id, drainOptions = {}) {
			const member = members.get(id);
			if (!member) throw new CoreError("NOT_FOUND", `no upstream "${id}"`);
			member.draining = true;
			closeIdle(member);
			if (member.inFlight === 0) return;
			await new Promise<void>((resolve) => {
				const timer = setTimeout(resolve, drainOptions.timeoutMs ?? 30_000);
				member.drained.push(() => {
					clearTimeout(timer);
					resolve();
				});
			});
		},
		async list() {
			return [...members.values()].map(
				({ id, host, port, healthy, draining, inFlight, sockets, total }) => ({
					id,
					host,
					port,
					healthy,
					draining,
					inFlight,
					active: sockets.size,
					total,
				}),
			);
		},
		pids: () => [],
		async close() {
			closed = true;
			clearInterval(timer);
			clearInterval(sweeper);
			for (const ex of [...waiting]) respond(ex, NO_UPSTREAM);
			await new Promise<void>((resolve) => {
				server.close(() => resolve());
				for (const s of clientSockets) s.destroy();
				for (const m of members.values())
					for (const s of m.sockets) s.destroy();
			});
		},
	};
	for (const upstream of options.upstreams ?? []) await balancer.add(upstream);
	return balancer;
}
