import type { ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { isCoreError } from "../../errors.ts";
import type { AppState } from "../app-state.ts";
import { HttpError, statusOf } from "../http-error.ts";
import { truncate } from "../request-body.ts";

/** Most field issues listed in one error body; the rest are counted in `issues_omitted`. */
export const MAX_ERROR_ISSUES = 50;
/** Longest error message sent back; longer ones (echoed names, values) are cut. */
export const MAX_ERROR_MESSAGE = 2000;

/**
 * The one error handler: a JSON body `{ error, issues? }` with the status of the error (`HttpError`'s
 * own, a `CoreError`'s mapped one, 500 with a generic message for anything else, which goes to
 * `onUnexpectedError`). Bodies stay small whatever the request: at most {@link MAX_ERROR_ISSUES} issues and
 * {@link MAX_ERROR_MESSAGE} characters.
 *
 * @example
 * app.onError(handleError(state));
 */
export function handleError(state: AppState): ErrorHandler {
	return (error, c) => {
		if (error instanceof HttpError) {
			for (const [name, value] of Object.entries(error.headers))
				c.header(name, value);
			return c.json(
				{ error: truncate(error.message, MAX_ERROR_MESSAGE) },
				error.status,
			);
		}
		if (isCoreError(error)) {
			const status = statusOf(error);
			if (status === 503) c.header("Retry-After", "1");
			if (status >= 500 && status !== 503 && status !== 504)
				state.onUnexpectedError?.(error);
			const issues = error.issues.slice(0, MAX_ERROR_ISSUES);
			return c.json(
				{
					error: truncate(error.message, MAX_ERROR_MESSAGE),
					...(issues.length ? { issues } : {}),
					...(error.issues.length > issues.length
						? { issues_omitted: error.issues.length - issues.length }
						: {}),
				},
				status,
			);
		}
		if (error instanceof HTTPException)
			return c.json(
				{ error: error.message || "request refused" },
				error.status,
			);
		state.onUnexpectedError?.(error);
		return c.json({ error: "internal server error" }, 500);
	};
}

/**
 * 404 for a path no route serves, as JSON.
 *
 * @example
 * app.notFound(handleNotFound);
 */
export const handleNotFound: NotFoundHandler = (c) =>
	c.json(
		{ error: `no route for ${c.req.method} ${truncate(c.req.path, 200)}` },
		404,
	);
