import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { type AddressInfo, Server as NetServer, type Socket } from "node:net";
import { serve } from "@hono/node-server";
import type { ServingApp } from "./create-app.ts";

/** Options of {@link startServer}. */
export interface StartServerOptions {
	/** Port; 0 (the default) picks a free one. */
	port?: number;
	/** Address to bind; loopback by default. */
	hostname?: string;
	/** Longest wait for a request's headers before 408 and a closed connection. Default 10 s. */
	headersTimeoutMs?: number;
	/**
	 * Longest wait for a whole request, headers and body, before 408 and a closed connection, so a client
	 * trickling its body cannot hold a connection for long. Default 30 s.
	 */
	requestTimeoutMs?: number;
}

/** A listening server and its graceful shutdown. */
export interface RunningServer {
	url: string;
	port: number;
	server: Server;
	/**
	 * Graceful shutdown, losing no request: the app drains (readiness false, every response carries
	 * `Connection: close`), no new connection is accepted, and open keep-alive connections stay open for
	 * `graceMs` (default 1 s) so that a request already on its way is answered; then idle connections are
	 * closed as they become idle. After `timeoutMs` (default 10 s) the rest are cut.
	 */
	close(options?: { timeoutMs?: number; graceMs?: number }): Promise<void>;
}

/**
 * Serves an app on Node's HTTP server through `@hono/node-server`, with deliberate header and request
 * timeouts and a shutdown that answers every request that reached an open connection.
 *
 * @example
 * const server = await startServer(createApp({ host }), { port: 8080 });
 * process.once("SIGTERM", () => server.close());
 */
export async function startServer(
	app: Pick<ServingApp, "fetch" | "drain">,
	options: StartServerOptions = {},
): Promise<RunningServer> {
	const hostname = options.hostname ?? "127.0.0.1";
	const server = await new Promise<Server>((resolve, reject) => {
		const s = serve(
			{
				fetch: app.fetch,
				port: options.port ?? 0,
				hostname,
				serverOptions: {
					// Node requires headersTimeout ≤ requestTimeout.
					headersTimeout: Math.min(
						options.headersTimeoutMs ?? 10_000,
						options.requestTimeoutMs ?? 30_000,
					),
					requestTimeout: options.requestTimeoutMs ?? 30_000,
					// How often those timeouts are checked (Node's default, 30 s, would double them).
					connectionsCheckingInterval: 1000,
				},
			},
			() => resolve(s as Server),
		) as Server;
		s.once("error", reject);
	});
	// Keep idle client connections longer than common balancer pools do, so the server is not the side
	// that closes a connection a balancer is about to reuse.
	server.keepAliveTimeout = 65_000;
	let closing: Promise<void> | undefined;
	keepPipelinesWhole(server);
	const { port } = server.address() as AddressInfo;
	const host = hostname.includes(":") ? `[${hostname}]` : hostname;
	return {
		url: `http://${host}:${port}`,
		port,
		server,
		close(closeOptions = {}) {
			closing ??= new Promise<void>((resolve) => {
				void app.drain();
				const cut = setTimeout(
					() => server.closeAllConnections(),
					closeOptions.timeoutMs ?? 10_000,
				);
				let sweep: NodeJS.Timeout | undefined;
				// Stop accepting connections but leave the open ones open (http.Server#close would close idle
				// keep-alive connections at once, racing with requests already on their way over them).
				NetServer.prototype.close.call(server, () => {
					clearTimeout(cut);
					clearTimeout(grace);
					clearInterval(sweep);
					resolve();
				});
				const grace = setTimeout(() => {
					// Clients that kept sending have been told `Connection: close` by now; close what is idle,
					// and busy connections as they become idle after their response.
					server.close();
					sweep = setInterval(() => server.closeIdleConnections(), 50);
				}, closeOptions.graceMs ?? 1000);
			});
			return closing;
		},
	};
}

/**
 * A successful response says `Connection: close` (the app is draining) only when no other request is
 * queued behind it on its connection: with HTTP pipelining, closing after the first response would drop
 * the requests the client already sent. The last of them carries it.
 */
function keepPipelinesWhole(server: Server): void {
	const queued = new WeakMap<Socket, number>();
	server.prependListener(
		"request",
		(req: IncomingMessage, res: ServerResponse) => {
			const { socket } = req;
			queued.set(socket, (queued.get(socket) ?? 0) + 1);
			res.once("close", () =>
				queued.set(socket, (queued.get(socket) ?? 1) - 1),
			);
			const writeHead = res.writeHead;
			res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
				const headers = args[args.length - 1];
				if (
					(queued.get(socket) ?? 0) > 1 &&
					typeof args[0] === "number" &&
					args[0] < 400 &&
					headers &&
					typeof headers === "object" &&
					!Array.isArray(headers)
				) {
					const kept: Record<string, unknown> = {};
					for (const [name, value] of Object.entries(headers))
						if (name.toLowerCase() !== "connection") kept[name] = value;
					args[args.length - 1] = kept;
					this.removeHeader("connection");
				}
				return (writeHead as (...a: unknown[]) => ServerResponse).apply(
					this,
					args,
				);
			} as ServerResponse["writeHead"];
		},
	);
}
