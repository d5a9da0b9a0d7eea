/**
 * @module @mdp/core/http
 * The one HTTP app that the vm, container and serverless patterns serve: Open Inference Protocol v2, a
 * plain `/predict`, Prometheus metrics and an OpenAPI document, plus a Node server with graceful shutdown.
 * A subpath of its own so that `@mdp/core` stays free of Hono.
 *
 * @example
 * import { ModelHost, referenceBundleDir } from "@mdp/core";
 * import { createApp, startServer } from "@mdp/core/http";
 * const host = new ModelHost({ batching: { maxBatchRows: 64 } });
 * await host.load(referenceBundleDir);
 * const app = createApp({ host, adminToken: process.env.MDP_ADMIN_TOKEN });
 * const server = await startServer(app, { port: 8080 });
 * process.once("SIGTERM", () => server.close().then(() => app.close()).then(() => host.close()));
 */

// ---- App ----
export { createApp } from "./create-app.ts";
export type { AppLimits, CreateAppOptions, ServingApp } from "./create-app.ts";
export { createBareApp } from "./create-bare-app.ts";
export { HttpError, STATUS_OF_CODE, statusOf } from "./http-error.ts";
export type { HttpErrorOptions } from "./http-error.ts";
export { createAppMetrics } from "./metrics.ts";
export type { AppMetrics, AppMetricsOptions } from "./metrics.ts";
export {
	PLATFORM,
	toInferRequest,
	toInferResponse,
	toModelMetadata,
	toRecords,
} from "./oip.ts";
export { createOpenApiDocument } from "./openapi.ts";
export type { RouteDoc } from "./openapi.ts";
export { registerRoutes, toOpenApiPath } from "./route.ts";
export type { RouteDefinition } from "./route.ts";
export type { InferRequest, InferResponse, PredictRequest } from "./schemas.ts";

// ---- Admin client (model repository, drain) ----
export { createAdminClient } from "./repository-client.ts";
export type {
	AdminClient,
	AdminClientOptions,
	DrainResult,
	LoadedModel,
	RepositoryIndexEntry,
} from "./repository-client.ts";

// ---- Server ----
export { startServer } from "./serve.ts";
export type { RunningServer, StartServerOptions } from "./serve.ts";
export { startServeProcess } from "./serve-process.ts";
export type { ServeProcess, ServeProcessOptions } from "./serve-process.ts";
