import { connect, createServer, type Server, type Socket } from "node:net";
import { CoreError } from "../errors.ts";
import { checkHealth } from "./health-check.ts";
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
	/** Other upstreams to try when connecting to one fails. Default 2. */
	retries?: number;
	/** Default 1,000 ms. */
	connectTimeoutMs?: number;
}

interface Member extends UpstreamState {
	successes: number;
	failures: number;
	drained: (() => void)[];
}

const NO_UPSTREAM_BODY = '{"error":"no healthy upstream; retry later"}';
const NO_UPSTREAM = `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nContent-Length: ${NO_UPSTREAM_BODY.length}\r\nConnection: close\r\n\r\n${NO_UPSTREAM_BODY}`;

/**
 * Starts the embedded load balancer: a connection-level (L4) proxy. Each client connection goes to the
 * healthy, non-draining upstream with the fewest open connections and is then spliced byte for byte: no
 * HTTP parsing, no body copies, so its cost per request is a fraction of an HTTP reverse proxy's. A
 * connection that cannot be opened is retried on another upstream before any byte was sent, so the retry
 * is safe whatever the request. Active health checks (the OIP ready endpoint) take upstreams in and out.
 *
 * The trade-off of L4: a keep-alive client stays on one upstream for the life of its connection. Balance
 * therefore comes from many connections, and a draining upstream must tell its clients to reconnect: the
 * `@mdp/core/http` app answers `Connection: close` once it drains.
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
	const members = new Map<string, Member>();
	const sockets = new Set<Socket>();
	let turn = 0;

	function pick(exclude: ReadonlySet<string>): Member | undefined {
		let best: Member | undefined;
		const all = [...members.values()];
		// Start the scan at a rotating offset, so ties between equally loaded upstreams take turns.
		turn = (turn + 1) % Math.max(all.length, 1);
		for (let i = 0; i < all.length; i++) {
			const m = all[(turn + i) % all.length] as Member;
			if (!m.healthy || m.draining || exclude.has(m.id)) continue;
			if (!best || m.active < best.active) best = m;
		}
		return best;
	}

	function release(member: Member): void {
		member.active--;
		if (member.active === 0)
			for (const resolve of member.drained.splice(0)) resolve();
	}

	function route(client: Socket, tried: Set<string>): void {
		const member = pick(tried);
		if (!member) {
			client.end(NO_UPSTREAM);
			return;
		}
		tried.add(member.id);
		member.active++;
		const upstream = connect({
			host: member.host,
			port: member.port,
			noDelay: true,
		});
		sockets.add(upstream);
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
			member.healthy = false;
			member.successes = 0;
			if (tried.size <= retries) route(client, tried);
			else client.end(NO_UPSTREAM);
		});
		upstream.once("close", () => {
			sockets.delete(upstream);
			release(member);
			if (connected) client.destroy();
		});
		client.once("close", () => upstream.destroy());
	}

	const server: Server = createServer(
		{ noDelay: true, pauseOnConnect: true },
		(client) => {
			sockets.add(client);
			client.once("close", () => sockets.delete(client));
			client.on("error", () => client.destroy());
			route(client, new Set());
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

	async function probe(member: Member): Promise<void> {
		const ok = await checkHealth(member, path, timeoutMs);
		if (ok) {
			member.failures = 0;
			member.successes++;
			if (member.successes >= rise) member.healthy = true;
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
				active: 0,
				total: 0,
				successes: 0,
				failures: 0,
				drained: [],
			};
			members.set(upstream.id, member);
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
			members.delete(id);
		},
		async drain(id, drainOptions = {}) {
			const member = members.get(id);
			if (!member) throw new CoreError("NOT_FOUND", `no upstream "${id}"`);
			member.draining = true;
			if (member.active === 0) return;
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
				({ id, host, port, healthy, draining, active, total }) => ({
					id,
					host,
					port,
					healthy,
					draining,
					active,
					total,
				}),
			);
		},
		pids: () => [],
		async close() {
			clearInterval(timer);
			await new Promise<void>((resolve) => {
				server.close(() => resolve());
				for (const s of sockets) s.destroy();
			});
		},
	};
	for (const upstream of options.upstreams ?? []) await balancer.add(upstream);
	return balancer;
}
