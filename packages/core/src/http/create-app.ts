import { timingSafeEqual } from "node:crypto";
import { readdir, realpath } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { routePath } from "hono/route";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ZodType } from "zod";
import { CoreError, type CoreErrorCode, isCoreError } from "../errors.ts";
import { readManifestName } from "../load-bundle.ts";
import type { HostedModel, ModelHost } from "../model-host.ts";
import type { Prediction, PredictTimings } from "../predictor.ts";
import { type AppMetrics, createAppMetrics } from "./metrics.ts";
import { toInferResponse, toModelMetadata, toRecords } from "./oip.ts";
import { createOpenApiDocument, type RouteDoc } from "./openapi.ts";
import * as schemas from "./schemas.ts";

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

/** Options of {@link createApp}. */
export interface CreateAppOptions {
	host: ModelHost;
	limits?: AppLimits;
	/** Enables the model repository extension (load/unload by name, inside `root`, with a bearer token). */
	repository?: { root: string; adminToken: string };
	/** Reported by `GET /v2`. */
	server?: { name: string; version: string };
	/** Told about errors that became a 500, for logging; the client only gets a generic message. */
	onUnexpectedError?: (error: unknown) => void;
}

/** The HTTP app every dynamic pattern serves, with what its server needs to run it. */
export interface ServingApp {
	app: Hono;
	/** The Fetch handler (`app.fetch`). */
	fetch: Hono["fetch"];
	metrics: AppMetrics;
	/** Prediction requests being handled now. */
	inFlight(): number;
	/** Marks the app as shutting down: readiness turns false so balancers stop sending requests. */
	drain(): void;
}

const STATUS: Record<CoreErrorCode, ContentfulStatusCode> = {
	INVALID_INPUT: 400,
	INVALID_ARGUMENT: 400,
	INVALID_BUNDLE: 400,
	MODEL_LOAD_FAILED: 400,
	NOT_FOUND: 404,
	PAYLOAD_TOO_LARGE: 413,
	UNAUTHORIZED: 401,
	FORBIDDEN: 403,
	OVERLOADED: 503,
	UNAVAILABLE: 503,
	TIMEOUT: 504,
	INFERENCE_FAILED: 500,
};

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Creates the HTTP app: Open Inference Protocol v2 (health, metadata, infer, model repository), a plain
 * `POST /predict`, Prometheus `/metrics` and `/openapi.json`, with body, record and concurrency limits,
 * JSON errors that name the field, and a `Server-Timing` header on every prediction.
 *
 * @example
 * const host = new ModelHost();
 * await host.load("packages/core/models/penguins");
 * const { app } = createApp({ host });
 * const res = await app.request("/v2/health/ready"); // 200 {"ready":true}
 */
export function createApp(options: CreateAppOptions): ServingApp {
	const { host, repository, onUnexpectedError } = options;
	const maxBodyBytes = options.limits?.maxBodyBytes ?? 1024 * 1024;
	const maxRecords = options.limits?.maxRecords ?? 1000;
	const maxInFlight = options.limits?.maxInFlight ?? 512;
	const requestTimeoutMs = options.limits?.requestTimeoutMs ?? 30_000;
	const server = options.server ?? { name: "mdp", version: "0.1.0" };
	const metrics = createAppMetrics();
	let inFlight = 0;
	let draining = false;
	host.addListener({
		onBatch: (model, rows, requests) => {
			metrics.batchRows.observe({ model: model.name }, rows);
			metrics.batchRequests.observe({ model: model.name }, requests);
		},
	});
	const app = new Hono();

	app.use("*", async (c, next) => {
		const started = performance.now();
		await next();
		// Draining: tell keep-alive clients to reconnect (through a balancer, to another replica).
		if (draining) c.res.headers.set("Connection", "close");
		const route = routePath(c, -1);
		metrics.recordRequest(
			route === "*" ? "unmatched" : route,
			c.req.method,
			c.res.status,
			(performance.now() - started) / 1000,
		);
	});

	const tooLarge = (c: Context) =>
		// The rest of the body is never read: close the connection so no client reuses a half-read socket.
		c.json(
			{ error: `request body exceeds the limit of ${maxBodyBytes} bytes` },
			413,
			{ Connection: "close" },
		);
	const streamingLimit = bodyLimit({
		maxSize: maxBodyBytes,
		onError: tooLarge,
	});
	/**
	 * Body limit. With a Content-Length (every ordinary client) the header decides and the body is later read
	 * straight from the socket; Hono's streaming limit, which materialises a web Request and its stream and
	 * costs several times the whole prediction, only runs for chunked bodies.
	 */
	const limitBody: MiddlewareHandler = async (c, next) => {
		const length = c.req.header("content-length");
		if (length === undefined) return streamingLimit(c, next);
		if (Number(length) > maxBodyBytes) return tooLarge(c);
		await next();
	};

	/** Admission for predictions: bounded in-flight count (503 + Retry-After beyond it) and a deadline. */
	const admit: MiddlewareHandler = async (c, next) => {
		if (inFlight >= maxInFlight) {
			c.header("Retry-After", "1");
			throw new CoreError(
				"OVERLOADED",
				`server busy: ${inFlight} predictions in flight (limit ${maxInFlight}); retry later`,
			);
		}
		inFlight++;
		metrics.inFlight.inc();
		try {
			await next();
		} finally {
			inFlight--;
			metrics.inFlight.dec();
		}
	};

	const requireAdmin: MiddlewareHandler = async (c, next) => {
		if (!repository) {
			throw new CoreError(
				"FORBIDDEN",
				"the model repository is off: start the server with a model root and an admin token",
			);
		}
		const given = Buffer.from(
			c.req.header("authorization")?.replace(/^Bearer\s+/i, "") ?? "",
		);
		const expected = Buffer.from(repository.adminToken);
		if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
			c.header("WWW-Authenticate", 'Bearer realm="mdp model repository"');
			throw new CoreError(
				"UNAUTHORIZED",
				"missing or wrong admin token (Authorization: Bearer <token>)",
			);
		}
		await next();
	};

	async function predict(
		model: HostedModel,
		records: readonly unknown[],
		c: Context,
	): Promise<Prediction[]> {
		if (records.length > maxRecords) {
			throw new CoreError(
				"PAYLOAD_TOO_LARGE",
				`${records.length} records in one request; the limit is ${maxRecords}`,
			);
		}
		const timings: PredictTimings = {
			queueMs: 0,
			featuresMs: 0,
			inferenceMs: 0,
		};
		const predictions = await withDeadline(
			host.use(model, (predictor) => predictor.predict(records, timings)),
			requestTimeoutMs,
		);
		c.header(
			"Server-Timing",
			`queue;dur=${timings.queueMs.toFixed(3)}, features;dur=${timings.featuresMs.toFixed(3)}, inference;dur=${timings.inferenceMs.toFixed(3)}`,
		);
		metrics.recordPrediction(
			model.name,
			model.version,
			predictions.length,
			timings,
		);
		return predictions;
	}

	function findModel(name: string, version?: string): HostedModel {
		const model = host.resolve(name, version);
		if (model) return model;
		const known = host.versions(name);
		throw new CoreError(
			"NOT_FOUND",
			known.length > 0
				? `model "${name}" has no version "${version}"; served versions: ${known.join(", ")}`
				: `unknown model "${name}"; served models: ${
						host
							.list()
							.map((m) => m.name)
							.join(", ") || "none"
					}`,
		);
	}

	// ---- Health and metadata ----
	app.get("/v2", (c) =>
		c.json({ ...server, extensions: repository ? ["model_repository"] : [] }),
	);
	app.get("/v2/health/live", (c) => c.json({ live: true }));
	app.get("/v2/health/ready", (c) => {
		const ready = host.ready && !draining;
		return c.json({ ready }, ready ? 200 : 503);
	});
	for (const base of [
		"/v2/models/:name",
		"/v2/models/:name/versions/:version",
	]) {
		app.get(base, (c) => {
			const model = findModel(
				c.req.param("name") as string,
				c.req.param("version"),
			);
			return c.json(toModelMetadata(model, host.versions(model.name)));
		});
		app.get(`${base}/ready`, (c) => {
			const model = host.resolve(
				c.req.param("name") as string,
				c.req.param("version"),
			);
			const ready = model !== undefined && !draining;
			return c.json(
				{ name: c.req.param("name"), ready },
				ready ? 200 : model ? 503 : 404,
			);
		});
		app.post(`${base}/infer`, limitBody, admit, async (c) => {
			const model = findModel(
				c.req.param("name") as string,
				c.req.param("version"),
			);
			const request = parse(schemas.inferRequest, await readJson(c));
			const predictions = await predict(
				model,
				toRecords(request, model.manifest.features),
				c,
			);
			return c.json(toInferResponse(model, request, predictions));
		});
	}

	// ---- Plain prediction API ----
	app.post("/predict", limitBody, admit, async (c) => {
		const body = parse(schemas.predictRequest, await readJson(c));
		const model =
			body.model === undefined
				? host.defaultModel()
				: findModel(body.model, body.version);
		if (!model) throw new CoreError("UNAVAILABLE", "no model is loaded");
		const predictions = await predict(model, body.records, c);
		return c.json({
			model: { name: model.name, version: model.version },
			predictions,
		});
	});

	// ---- Model repository extension ----
	app.post("/v2/repository/index", requireAdmin, async (c) => {
		const root = (repository as { root: string }).root;
		const folders = (await readdir(root, { withFileTypes: true })).filter(
			(d) => d.isDirectory() && MODEL_NAME.test(d.name),
		);
		const entries = folders.map((d) => {
			const served = host.resolve(d.name);
			return served
				? {
						name: d.name,
						version: served.version,
						state: "READY" as const,
						reason: "",
					}
				: {
						name: d.name,
						state: "UNAVAILABLE" as const,
						reason: host.lastError(d.name) ?? "not loaded",
					};
		});
		return c.json(entries);
	});
	app.post(
		"/v2/repository/models/:name/load",
		requireAdmin,
		limitBody,
		async (c) => {
			const name = c.req.param("name");
			const dir = await resolveInRoot(
				(repository as { root: string }).root,
				name,
			);
			const text = await c.req.text();
			const body =
				text.trim() === ""
					? {}
					: parse(schemas.repositoryLoadRequest, parseJson(text));
			const folderName = await readManifestName(dir);
			if (folderName !== name) {
				throw new CoreError(
					"INVALID_BUNDLE",
					`${dir}/mdp.json names the model "${folderName}", but it was loaded as "${name}"`,
				);
			}
			const model = await host.load(dir, {
				keepOtherVersions: body.parameters?.keep_other_versions ?? false,
			});
			return c.json({
				name: model.name,
				version: model.version,
				load_ms: Number(model.loadMs.toFixed(1)),
			});
		},
	);
	app.post("/v2/repository/models/:name/unload", requireAdmin, async (c) => {
		const name = c.req.param("name");
		if (!(await host.unload(name)))
			throw new CoreError("NOT_FOUND", `model "${name}" is not loaded`);
		return c.json({ name, unloaded: true });
	});

	// ---- Operations ----
	app.get("/metrics", async (c) => {
		// Model gauges are derived from what is served at scrape time, so unloaded models disappear.
		metrics.modelInfo.reset();
		metrics.modelLoadSeconds.reset();
		for (const m of host.list()) {
			metrics.modelInfo.set(
				{ model: m.name, version: m.version, sha256: m.manifest.model.sha256 },
				1,
			);
			metrics.modelLoadSeconds.set(
				{ model: m.name, version: m.version },
				m.loadMs / 1000,
			);
		}
		return c.body(await metrics.registry.metrics(), 200, {
			"Content-Type": metrics.registry.contentType,
		});
	});
	const openApi = createOpenApiDocument(ROUTES, {
		title: "model-deployment-patterns serving API",
		version: server.version,
	});
	app.get("/openapi.json", (c) => c.json(openApi));

	app.notFound((c) =>
		c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404),
	);
	app.onError((error, c) => {
		if (isCoreError(error)) {
			const status = STATUS[error.code];
			if (status === 503) c.header("Retry-After", "1");
			if (status >= 500 && status !== 503 && status !== 504)
				onUnexpectedError?.(error);
			return c.json(
				{
					error: error.message,
					...(error.issues.length ? { issues: error.issues } : {}),
				},
				status,
			);
		}
		if (error instanceof HTTPException)
			return c.json(
				{ error: error.message || "request refused" },
				error.status,
			);
		onUnexpectedError?.(error);
		return c.json({ error: "internal server error" }, 500);
	});

	return {
		app,
		fetch: app.fetch,
		metrics,
		inFlight: () => inFlight,
		drain: () => {
			draining = true;
		},
	};
}

async function readJson(c: Context): Promise<unknown> {
	return parseJson(await c.req.text());
}

function parseJson(text: string): unknown {
	if (text.trim() === "")
		throw new CoreError(
			"INVALID_INPUT",
			"request body is empty; expected JSON",
		);
	try {
		return JSON.parse(text);
	} catch (error) {
		throw new CoreError(
			"INVALID_INPUT",
			`request body is not valid JSON: ${(error as Error).message}`,
		);
	}
}

function parse<T>(schema: ZodType<T>, value: unknown): T {
	const result = schema.safeParse(value);
	if (result.success) return result.data;
	const problems = result.error.issues.map((issue) => {
		const path = issue.path
			.map((k, i) =>
				typeof k === "number" ? `[${k}]` : `${i ? "." : ""}${String(k)}`,
			)
			.join("");
		return `${path || "body"}: ${issue.message}`;
	});
	throw new CoreError("INVALID_INPUT", problems.join("; "));
}

/** Resolves a model name to its folder inside the repository root, refusing anything that escapes it. */
async function resolveInRoot(root: string, name: string): Promise<string> {
	if (!MODEL_NAME.test(name) || name.includes("..")) {
		throw new CoreError(
			"INVALID_ARGUMENT",
			`"${name}" is not a model name (letters, digits, '.', '_', '-'; no path)`,
		);
	}
	const base = resolve(root);
	const dir = join(base, name);
	let real: string;
	try {
		real = await realpath(dir);
	} catch {
		throw new CoreError(
			"NOT_FOUND",
			`no model folder "${name}" in the model repository`,
		);
	}
	const realBase = await realpath(base);
	if (!real.startsWith(realBase + sep)) {
		throw new CoreError(
			"INVALID_ARGUMENT",
			`"${name}" resolves outside the model repository`,
		);
	}
	return real;
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const deadline = new Promise<never>((_, reject) => {
		timer = setTimeout(
			() =>
				reject(
					new CoreError("TIMEOUT", `prediction took longer than ${ms} ms`),
				),
			ms,
		);
	});
	return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

const errors = {
	400: {
		description: "Bad input: malformed JSON, a wrong field, a shape mismatch",
		schema: schemas.errorBody,
	},
	404: { description: "Unknown model or version", schema: schemas.errorBody },
	413: {
		description: "Body or record count over the limit",
		schema: schemas.errorBody,
	},
	503: {
		description: "Overloaded or draining (Retry-After)",
		schema: schemas.errorBody,
	},
	504: {
		description: "Prediction exceeded the request timeout",
		schema: schemas.errorBody,
	},
};
const adminErrors = {
	401: {
		description: "Missing or wrong admin token",
		schema: schemas.errorBody,
	},
	403: { description: "Repository extension off", schema: schemas.errorBody },
};

/** The documented routes (served as `/openapi.json`). */
const ROUTES: RouteDoc[] = [
	{
		method: "get",
		path: "/v2",
		summary: "Server metadata",
		tags: ["oip"],
		responses: {
			200: { description: "Server metadata", schema: schemas.serverMetadata },
		},
	},
	{
		method: "get",
		path: "/v2/health/live",
		summary: "Liveness",
		tags: ["oip"],
		responses: { 200: { description: "Live", schema: schemas.liveBody } },
	},
	{
		method: "get",
		path: "/v2/health/ready",
		summary: "Readiness: a model is served and the server is not draining",
		tags: ["oip"],
		responses: {
			200: { description: "Ready", schema: schemas.readyBody },
			503: { description: "Not ready", schema: schemas.readyBody },
		},
	},
	...["/v2/models/{name}", "/v2/models/{name}/versions/{version}"].flatMap(
		(base): RouteDoc[] => [
			{
				method: "get",
				path: base,
				summary: "Model metadata",
				tags: ["oip"],
				responses: {
					200: { description: "Model metadata", schema: schemas.modelMetadata },
					404: errors[404],
				},
			},
			{
				method: "get",
				path: `${base}/ready`,
				summary: "Model readiness",
				tags: ["oip"],
				responses: {
					200: { description: "Ready", schema: schemas.modelReadyBody },
					404: { description: "Unknown model", schema: schemas.modelReadyBody },
				},
			},
			{
				method: "post",
				path: `${base}/infer`,
				summary:
					"Inference: one input per feature (FP32 numbers, BYTES strings, shape [N]); outputs label and probabilities",
				tags: ["oip"],
				request: schemas.inferRequest,
				responses: {
					200: { description: "Predictions", schema: schemas.inferResponse },
					...errors,
				},
			},
		],
	),
	{
		method: "post",
		path: "/predict",
		summary: "Predict records (the simple API)",
		tags: ["predict"],
		request: schemas.predictRequest,
		responses: {
			200: {
				description: "One prediction per record",
				schema: schemas.predictResponse,
			},
			...errors,
		},
	},
	{
		method: "post",
		path: "/v2/repository/index",
		summary: "Models in the repository and their state",
		tags: ["repository"],
		admin: true,
		responses: {
			200: { description: "Index", schema: schemas.repositoryIndex },
			...adminErrors,
		},
	},
	{
		method: "post",
		path: "/v2/repository/models/{name}/load",
		summary: "Load (or hot-swap) the bundle in <root>/<name>",
		tags: ["repository"],
		admin: true,
		request: schemas.repositoryLoadRequest,
		responses: {
			200: { description: "Loaded and serving" },
			400: errors[400],
			404: errors[404],
			...adminErrors,
		},
	},
	{
		method: "post",
		path: "/v2/repository/models/{name}/unload",
		summary: "Stop serving a model",
		tags: ["repository"],
		admin: true,
		responses: {
			200: { description: "Unloaded" },
			404: errors[404],
			...adminErrors,
		},
	},
	{
		method: "get",
		path: "/metrics",
		summary: "Prometheus metrics (mdp_*)",
		tags: ["operations"],
		responses: { 200: { description: "Prometheus text format" } },
	},
	{
		method: "get",
		path: "/openapi.json",
		summary: "This document",
		tags: ["operations"],
		responses: { 200: { description: "OpenAPI 3.1" } },
	},
];
