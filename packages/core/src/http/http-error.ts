import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type CoreErrorCode, isCoreError } from "../errors.ts";

/** Options of an {@link HttpError}. */
export interface HttpErrorOptions {
	/** Headers the error response carries (`Retry-After`, `WWW-Authenticate`, `Connection`). */
	headers?: Record<string, string>;
	cause?: unknown;
}

/**
 * An error that only exists at the HTTP edge (unauthorized, forbidden, payload too large, overloaded):
 * it carries its status and headers itself, so core's error codes stay about the model and its input.
 *
 * @example
 * throw new HttpError(413, "request body exceeds the limit of 1048576 bytes", { headers: { Connection: "close" } });
 */
export class HttpError extends Error {
	readonly status: ContentfulStatusCode;
	readonly headers: Record<string, string>;

	constructor(
		status: ContentfulStatusCode,
		message: string,
		options: HttpErrorOptions = {},
	) {
		super(message, { cause: options.cause });
		this.name = "HttpError";
		this.status = status;
		this.headers = options.headers ?? {};
	}
}

/**
 * The status each core error code is answered with.
 *
 * @example
 * STATUS_OF_CODE.INVALID_INPUT; // 400
 */
export const STATUS_OF_CODE: Record<CoreErrorCode, ContentfulStatusCode> = {
	INVALID_INPUT: 400,
	INVALID_ARGUMENT: 400,
	INVALID_BUNDLE: 400,
	MODEL_LOAD_FAILED: 400,
	NOT_FOUND: 404,
	UNAUTHORIZED: 401,
	FORBIDDEN: 403,
	UNAVAILABLE: 503,
	TIMEOUT: 504,
	INFERENCE_FAILED: 500,
};

/**
 * The status an error thrown by a handler is answered with: its own for an {@link HttpError}, the
 * mapped one for a `CoreError`, 500 for anything else.
 *
 * @example
 * statusOf(new HttpError(401, "no token")); // 401
 */
export function statusOf(error: unknown): ContentfulStatusCode {
	if (error instanceof HttpError) return error.status;
	if (isCoreError(error)) return STATUS_OF_CODE[error.code];
	return 500;
}
