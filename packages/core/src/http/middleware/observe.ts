import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppState } from "../app-state.ts";
import { isClientAbort } from "./limits.ts";

/**
 * Outermost middleware: times every request into the `mdp_http_*` metrics (by route pattern, so paths
 * with model names do not explode the label set; a client that went away mid-body is counted with status
 * `aborted`), and while draining tells keep-alive clients to reconnect with `Connection: close`.
 *
 * @example
 * app.use("*", observe(state));
 */
export function observe(state: AppState): MiddlewareHandler {
	return async (c, next) => {
		const started = performance.now();
		await next();
		// Draining: tell keep-alive clients to reconnect (through a balancer, to another replica).
		if (state.draining) c.res.headers.set("Connection", "close");
		const route = routePath(c, -1);
		state.metrics.recordRequest(
			route === "*" ? "unmatched" : route,
			c.req.method,
			isClientAbort(c) ? "aborted" : c.res.status,
			(performance.now() - started) / 1000,
		);
	};
}
