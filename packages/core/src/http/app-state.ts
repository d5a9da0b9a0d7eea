import type { ModelHost } from "../model-host.ts";
import { Deadlines } from "./deadlines.ts";
import type { AppMetrics } from "./metrics.ts";

/** Limits that keep one client from hurting the others. */
export interface AppLimits {
	/** Largest request body in bytes (413 beyond). Default 1 MiB. */
	maxBodyBytes?: number;
	/** Most records (rows) in one prediction request (413 beyond). Default 1,000. */
	maxRecords?: number;
	/** Most prediction requests handled at once; more get 503 with Retry-After. Default 512. */
	maxInFlight?: number;
	/** Longest a prediction may take before the client gets 504. Default 30 s. */
	requestTimeoutMs?: number;
}

/**
 * What the routes and middleware of one app share: the model host, the resolved limits, the metrics and
 * the live state (predictions in flight, draining). Built once by `createApp`.
 *
 * @example
 * const state = createAppState({ host, metrics: createAppMetrics() });
 * state.limits.maxRecords; // 1000
 */
export interface AppState {
	readonly host: ModelHost;
	readonly limits: Required<AppLimits>;
	readonly metrics: AppMetrics;
	readonly server: { name: string; version: string };
	/** Repository root, when the model repository is on. */
	readonly modelRoot?: string;
	/** Admin token, when the admin routes (drain, repository) are on. */
	readonly adminToken?: string;
	readonly onUnexpectedError?: (error: unknown) => void;
	readonly onClientAbort?: (request: { method: string; path: string }) => void;
	/** The request deadlines (`limits.requestTimeoutMs`), one timer for all of them. */
	readonly deadlines: Deadlines;
	/** Prediction work being done now (admitted and not yet ended, even if its client got a 504). */
	inFlight: number;
	draining: boolean;
	/** Called whenever `inFlight` drops (drain waits on it). */
	readonly idleWaiters: Set<() => void>;
}

/**
 * Creates the shared state of one app with the default limits filled in.
 *
 * @example
 * const state = createAppState({ host, metrics: createAppMetrics(), limits: { maxRecords: 100 } });
 */
export function createAppState(options: {
	host: ModelHost;
	metrics: AppMetrics;
	limits?: AppLimits;
	server?: { name: string; version: string };
	modelRoot?: string;
	adminToken?: string;
	onUnexpectedError?: (error: unknown) => void;
	onClientAbort?: (request: { method: string; path: string }) => void;
}): AppState {
	const limits = {
		maxBodyBytes: options.limits?.maxBodyBytes ?? 1024 * 1024,
		maxRecords: options.limits?.maxRecords ?? 1000,
		maxInFlight: options.limits?.maxInFlight ?? 512,
		requestTimeoutMs: options.limits?.requestTimeoutMs ?? 30_000,
	};
	return {
		host: options.host,
		metrics: options.metrics,
		limits,
		deadlines: new Deadlines(limits.requestTimeoutMs),
		server: options.server ?? { name: "mdp", version: "0.1.0" },
		modelRoot: options.modelRoot,
		adminToken: options.adminToken,
		onUnexpectedError: options.onUnexpectedError,
		onClientAbort: options.onClientAbort,
		inFlight: 0,
		draining: false,
		idleWaiters: new Set(),
	};
}

/**
 * Resolves when no prediction is in flight, or after `timeoutMs` (never, when absent); resolves to the
 * count left.
 *
 * @example
 * const left = await whenIdle(state, 30_000); // 0 unless it timed out
 */
export function whenIdle(state: AppState, timeoutMs?: number): Promise<number> {
	if (state.inFlight === 0) return Promise.resolve(0);
	return new Promise<number>((resolve) => {
		const check = () => {
			if (state.inFlight > 0) return;
			done();
		};
		const done = () => {
			clearTimeout(timer);
			state.idleWaiters.delete(check);
			resolve(state.inFlight);
		};
		const timer =
			timeoutMs === undefined ? undefined : setTimeout(done, timeoutMs);
		state.idleWaiters.add(check);
	});
}
