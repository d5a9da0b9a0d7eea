import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppState } from "../app-state.ts";
import { HttpError } from "../http-error.ts";

const bodies = new WeakMap<Context, string>();
const aborted = new WeakSet<Context>();

/**
 * Reads the whole request body as text under the body limit, before admission, so a slow upload holds a
 * connection but never an in-flight slot. With a Content-Length (every ordinary client) the header
 * decides and the body is read straight from the socket; Hono's streaming limit, which materialises a web
 * Request and its stream, only runs for chunked bodies. A body over the limit is a 413 with
 * `Connection: close` (the rest is never read); a client that goes away mid-body is answered (to no one)
 * with 400 and counted as `aborted`, not as a server error.
 *
 * @example
 * app.post("/predict", readBody(state), admit(state), (c) => c.json(parseJson(bodyText(c))));
 */
export function readBody(state: AppState): MiddlewareHandler {
	const { maxBodyBytes } = state.limits;
	const tooLarge = () =>
		new HttpError(
			413,
			`request body exceeds the limit of ${maxBodyBytes} bytes`,
			{ headers: { Connection: "close" } },
		);
	const streamingLimit = bodyLimit({
		maxSize: maxBodyBytes,
		onError: () => {
			throw tooLarge();
		},
	});
	return async (c, next) => {
		const length = c.req.header("content-length");
		if (length !== undefined && Number(length) > maxBodyBytes) throw tooLarge();
		let text: string;
		try {
			// Without a Content-Length (chunked), Hono's streaming limit buffers the body up to the limit.
			if (length === undefined) await streamingLimit(c, async () => {});
			text = await c.req.text();
		} catch (error) {
			if (error instanceof HttpError) throw error;
			aborted.add(c);
			state.onClientAbort?.({ method: c.req.method, path: c.req.path });
			throw new HttpError(
				400,
				"the request body ended before its announced length (client aborted)",
				{ headers: { Connection: "close" }, cause: error },
			);
		}
		bodies.set(c, text);
		await next();
	};
}

/**
 * The body {@link readBody} read for this request.
 *
 * @example
 * const body = parseJson(bodyText(c));
 */
export function bodyText(c: Context): string {
	const text = bodies.get(c);
	if (text === undefined)
		throw new Error("bodyText() needs the readBody middleware on this route");
	return text;
}

/**
 * Whether the client of this request went away before its body was complete.
 *
 * @example
 * metrics.recordRequest(route, method, isClientAbort(c) ? "aborted" : c.res.status, seconds);
 */
export function isClientAbort(c: Context): boolean {
	return aborted.has(c);
}
