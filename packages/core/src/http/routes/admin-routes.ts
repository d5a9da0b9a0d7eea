import type { AppState } from "../app-state.ts";
import { requireAdmin } from "../middleware/auth.ts";
import { bodyText, readBody } from "../middleware/limits.ts";
import { parse, parseJson } from "../request-body.ts";
import type { RouteDefinition } from "../route.ts";
import * as schemas from "../schemas.ts";
import { ADMIN_ERRORS, PREDICTION_ERRORS } from "./error-docs.ts";

/** Default longest wait of `POST /v2/admin/drain`. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

/**
 * Drain without a signal, behind the admin token: `POST /v2/admin/drain` turns readiness false, makes
 * every response carry `Connection: close` and answers once no prediction is in flight (or after
 * `timeout_ms`); `POST /v2/admin/resume` ends it. `drain`/`resume` are the app's own.
 *
 * @example
 * registerRoutes(app, adminRoutes(state, { drain: (ms) => app.drain({ timeoutMs: ms }), resume: () => app.resume() }));
 */
export function adminRoutes(
	state: AppState,
	control: { drain(timeoutMs: number): Promise<number>; resume(): void },
): RouteDefinition[] {
	const guard = requireAdmin(state.adminToken);
	return [
		{
			method: "post",
			path: "/v2/admin/drain",
			summary:
				"Drain: readiness false, Connection: close on every response; answers when no prediction is in flight (or after timeout_ms)",
			tags: ["admin"],
			admin: true,
			request: schemas.drainRequest,
			responses: {
				200: { description: "Drained", schema: schemas.drainResponse },
				400: PREDICTION_ERRORS[400],
				...ADMIN_ERRORS,
			},
			middleware: [guard, readBody(state)],
			handler: async (c) => {
				const text = bodyText(c);
				const body =
					text.trim() === ""
						? {}
						: parse(schemas.drainRequest, parseJson(text));
				const left = await control.drain(
					body.timeout_ms ?? DEFAULT_DRAIN_TIMEOUT_MS,
				);
				return c.json({ draining: state.draining, in_flight: left });
			},
		},
		{
			method: "post",
			path: "/v2/admin/resume",
			summary: "End a drain: ready again",
			tags: ["admin"],
			admin: true,
			responses: {
				200: { description: "Serving", schema: schemas.drainResponse },
				...ADMIN_ERRORS,
			},
			middleware: [guard],
			handler: (c) => {
				control.resume();
				return c.json({ draining: false });
			},
		},
	];
}
