import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { ServingApp } from "./create-app.ts";

/** Options of {@link startServer}. */
export interface StartServerOptions {
	/** Port; 0 (the default) picks a free one. */
	port?: number;
	/** Address to bind; loopback by default. */
	hostname?: string;
}

/** A listening server and its graceful shutdown. */
export interface RunningServer {
	url: string;
	port: number;
	server: Server;
	/**
	 * Graceful shutdown: readiness turns false, no new connection is accepted, requests in flight finish,
	 * idle keep-alive connections are closed; after `timeoutMs` (default 10 s) the rest are cut.
	 */
	close(options?: { timeoutMs?: number }): Promise<void>;
}

/** Serves an app on Node's HTTP server through `@hono/node-server`. */
export async function startServer(
	app: Pick<ServingApp, "fetch" | "drain">,
	options: StartServerOptions = {},
): Promise<RunningServer> {
	const hostname = options.hostname ?? "127.0.0.1";
	const server = await new Promise<Server>((resolve, reject) => {
		const s = serve(
			{ fetch: app.fetch, port: options.port ?? 0, hostname },
			() => resolve(s as Server),
		) as Server;
		s.once("error", reject);
	});
	// Keep idle client connections longer than common balancer pools do, so the server is not the side
	// that closes a connection a balancer is about to reuse.
	server.keepAliveTimeout = 65_000;
	const { port } = server.address() as AddressInfo;
	const host = hostname.includes(":") ? `[${hostname}]` : hostname;
	let closing: Promise<void> | undefined;
	return {
		url: `http://${host}:${port}`,
		port,
		server,
		close(closeOptions = {}) {
			closing ??= new Promise<void>((resolve) => {
				app.drain();
				const timer = setTimeout(
					() => server.closeAllConnections(),
					closeOptions.timeoutMs ?? 10_000,
				);
				// Busy keep-alive connections become idle after their response; close them as they do.
				const sweep = setInterval(() => server.closeIdleConnections(), 50);
				server.close(() => {
					clearTimeout(timer);
					clearInterval(sweep);
					resolve();
				});
				server.closeIdleConnections();
			});
			return closing;
		},
	};
}
