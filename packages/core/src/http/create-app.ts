import { Hono } from "hono";
import type { ModelHost } from "../model-host.ts";
import { type AppLimits, createAppState, whenIdle } from "./app-state.ts";
import { type AppMetrics, createAppMetrics } from "./metrics.ts";
import { handleError, handleNotFound } from "./middleware/errors.ts";
import { observe } from "./middleware/observe.ts";
import type { RouteDoc } from "./openapi.ts";
import { registerRoutes } from "./route.ts";
import { adminRoutes } from "./routes/admin-routes.ts";
import { oipRoutes } from "./routes/oip-routes.ts";
import { operationsRoutes } from "./routes/operations-routes.ts";
import { predictRoutes } from "./routes/predict-routes.ts";
import { repositoryRoutes } from "./routes/repository-routes.ts";

export type { AppLimits } from "./app-state.ts";

/** Options of {@link createApp}. */
export interface CreateAppOptions {
	host: ModelHost;
	limits?: AppLimits;
	/** Enables the model repository extension (load/unload by name, inside `root`, with a bearer token). */
	repository?: { root: string; adminToken: string };
	/**
	 * Enables the admin routes (drain, resume) with this bearer token, with or without a model repository.
	 * `repository.adminToken` is used when absent.
	 */
	adminToken?: string;
	/** Reported by `GET /v2`. */
	server?: { name: string; version: string };
	/** Told about errors that became a 500, for logging; the client only gets a generic message. */
	onUnexpectedError?: (error: unknown) => void;
	/** Told about each client that went away before its request body was complete, for a one-line log. */
	onClientAbort?: (request: { method: string; path: string }) => void;
	/**
	 * Also export the process's Node.js metrics (event-loop delay, GC, heap, CPU) on `/metrics`. Off by
	 * default because they are process-wide; the server (`mdp-core serve`, `mdp-serve.mjs`) turns it on.
	 */
	processMetrics?: boolean;
}

/** The HTTP app every dynamic pattern serves, with what its server needs to run it. */
export interface ServingApp {
	app: Hono;
	/** The Fetch handler (`app.fetch`). */
	fetch: Hono["fetch"];
	metrics: AppMetrics;
	/** Prediction work being done now. */
	inFlight(): number;
	/** Whether the app is draining. */
	draining(): boolean;
	/**
	 * Drains: readiness turns false and every response carries `Connection: close`, so balancers and
	 * keep-alive clients go elsewhere; resolves when no prediction is in flight (or after `timeoutMs`, when
	 * given) to the count left.
	 */
	drain(options?: { timeoutMs?: number }): Promise<number>;
	/** Ends a drain: ready again. */
	resume(): void;
	/**
	 * Detaches the app from its model host (its batch listener; the host itself stays open) and stops its
	 * deadline timer.
	 */
	close(): void;
}

/**
 * Creates the HTTP app: Open Inference Protocol v2 (health, metadata, infer, model repository), a plain
 * `POST /predict`, admin drain/resume, Prometheus `/metrics` and `/openapi.json`, with body, record and
 * concurrency limits, JSON errors that name the field, and a `Server-Timing` header on every prediction.
 * Each route is defined once, with its schema and OpenAPI entry, in a route module (`routes/`); limits,
 * admission, auth and errors are middleware (`middleware/`).
 *
 * @example
 * const host = new ModelHost();
 * await host.load("packages/core/models/penguins");
 * const { app } = createApp({ host });
 * const res = await app.request("/v2/health/ready"); // 200 {"ready":true}
 */
export function createApp(options: CreateAppOptions): ServingApp {
	const { host } = options;
	const metrics = createAppMetrics({
		process: options.processMetrics,
		inFlight: () => state.inFlight,
	});
	const state = createAppState({
		host,
		metrics,
		limits: options.limits,
		server: options.server,
		modelRoot: options.repository?.root,
		adminToken: options.adminToken ?? options.repository?.adminToken,
		onUnexpectedError: options.onUnexpectedError,
		onClientAbort: options.onClientAbort,
	});
	const detach = host.addListener({
		onBatch: (model, rows, requests) =>
			metrics.recordBatch(model.name, rows, requests),
	});
	const drain = (drainOptions: { timeoutMs?: number } = {}) => {
		state.draining = true;
		return whenIdle(state, drainOptions.timeoutMs);
	};
	const resume = () => {
		state.draining = false;
	};

	const app = new Hono();
	app.use("*", observe(state));
	const docs: RouteDoc[] = [];
	for (const routes of [
		operationsRoutes(state, () => docs),
		oipRoutes(state),
		predictRoutes(state),
		repositoryRoutes(state),
		adminRoutes(state, {
			drain: (timeoutMs) => drain({ timeoutMs }),
			resume,
		}),
	])
		docs.push(...registerRoutes(app, routes));
	app.notFound(handleNotFound);
	app.onError(handleError(state));

	return {
		app,
		fetch: app.fetch,
		metrics,
		inFlight: () => state.inFlight,
		draining: () => state.draining,
		drain,
		resume,
		close: () => {
			detach();
			state.deadlines.close();
		},
	};
}
