import type { Context, MiddlewareHandler } from "hono";
import type { AppState } from "../app-state.ts";
import { HttpError } from "../http-error.ts";

const pending = new WeakMap<Context, Promise<unknown>>();

/**
 * Admission for predictions: a bounded in-flight count (503 + Retry-After beyond it). A slot is held until
 * the work really ends: when a request times out (504) while its prediction still runs, the slot is
 * released only once that prediction settles (see {@link holdUntilSettled}), so the server never admits
 * more work than it is doing. Goes after `readBody`, so slow uploads never hold a slot.
 *
 * @example
 * app.post("/predict", readBody(state), admit(state), handler);
 */
export function admit(state: AppState): MiddlewareHandler {
	const { maxInFlight } = state.limits;
	const release = () => {
		state.inFlight--;
		if (state.inFlight === 0) for (const wake of state.idleWaiters) wake();
	};
	return async (c, next) => {
		if (state.inFlight >= maxInFlight) {
			throw new HttpError(
				503,
				`server busy: ${state.inFlight} predictions in flight (limit ${maxInFlight}); retry later`,
				{ headers: { "Retry-After": "1" } },
			);
		}
		state.inFlight++;
		try {
			await next();
		} finally {
			const work = pending.get(c);
			if (work) work.then(release, release);
			else release();
		}
	};
}

/**
 * Tells admission that `work` outlives this request's response (it timed out): the request's slot is
 * released when `work` settles instead of when the response is sent.
 *
 * @example
 * holdUntilSettled(c, inference); throw new CoreError("TIMEOUT", "…");
 */
export function holdUntilSettled(c: Context, work: Promise<unknown>): void {
	pending.set(c, work);
}
