import { timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { HttpError } from "../http-error.ts";

const BEARER = /^Bearer ([\x21-\x7e]+)$/i;

/**
 * Guards admin routes with `Authorization: Bearer <token>`: 403 when the admin routes are off (no token
 * configured, or `offReason` says what else is missing), 401 with `WWW-Authenticate` for a missing header,
 * another scheme or a wrong token (compared in constant time).
 *
 * @example
 * app.post("/v2/admin/drain", requireAdmin(process.env.MDP_ADMIN_TOKEN), handler);
 */
export function requireAdmin(
	token: string | undefined,
	offReason?: string,
): MiddlewareHandler {
	const expected = token === undefined ? undefined : Buffer.from(token);
	return async (c, next) => {
		if (expected === undefined || offReason !== undefined) {
			throw new HttpError(
				403,
				offReason ??
					"the admin routes are off: start the server with an admin token (MDP_ADMIN_TOKEN)",
			);
		}
		const match = BEARER.exec(c.req.header("authorization") ?? "");
		const given = Buffer.from(match?.[1] ?? "");
		if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
			throw new HttpError(
				401,
				"missing or wrong admin token (Authorization: Bearer <token>)",
				{ headers: { "WWW-Authenticate": 'Bearer realm="mdp admin"' } },
			);
		}
		await next();
	};
}
