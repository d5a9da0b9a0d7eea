import type { Handler, Hono, MiddlewareHandler } from "hono";
import type { RouteDoc } from "./openapi.ts";

/**
 * One route, defined once: where it is, what it does, its request schema and documented responses (its
 * OpenAPI entry) and its middleware and handler. `path` is in Hono's form (`/v2/models/:name`); the
 * OpenAPI form (`/v2/models/{name}`) is derived from it.
 */
export interface RouteDefinition extends Omit<RouteDoc, "path"> {
	path: string;
	/** Run in order before the handler (body limit, body read, admission, auth). */
	middleware?: readonly MiddlewareHandler[];
	handler: Handler;
}

/**
 * Registers routes on an app and returns their OpenAPI entries, so the document is derived from the very
 * definitions that serve requests and no route can exist undocumented.
 *
 * @example
 * const docs = registerRoutes(app, [{ method: "get", path: "/v2/health/live", summary: "Liveness",
 *   tags: ["operations"], responses: { 200: { description: "Live" } }, handler: (c) => c.json({ live: true }) }]);
 * docs[0].path; // "/v2/health/live"
 */
export function registerRoutes(
	app: Hono,
	routes: readonly RouteDefinition[],
): RouteDoc[] {
	return routes.map(({ middleware = [], handler, ...doc }) => {
		const handlers: Handler[] = [...middleware, handler];
		app.on(doc.method.toUpperCase(), [doc.path], ...handlers);
		return { ...doc, path: toOpenApiPath(doc.path) };
	});
}

/**
 * A Hono path in OpenAPI form: `/v2/models/:name` → `/v2/models/{name}`.
 *
 * @example
 * toOpenApiPath("/v2/models/:name/versions/:version"); // "/v2/models/{name}/versions/{version}"
 */
export function toOpenApiPath(path: string): string {
	return path.replace(/:(\w+)/g, "{$1}");
}
