import type { AppState } from "../app-state.ts";
import { acceptsInferRequest } from "../fast-accept.ts";
import { admit } from "../middleware/admission.ts";
import { bodyText, readBody } from "../middleware/limits.ts";
import { toInferResponse, toModelMetadata, toRecords } from "../oip.ts";
import { parse, parseJson } from "../request-body.ts";
import type { RouteDefinition } from "../route.ts";
import {
	findModel,
	predictionResponse,
	runPrediction,
} from "../run-prediction.ts";
import * as schemas from "../schemas.ts";
import { PREDICTION_ERRORS } from "./error-docs.ts";

/**
 * Open Inference Protocol v2: server metadata, model metadata and readiness, and inference, for the
 * default version of a model and for a named version.
 *
 * @example
 * registerRoutes(app, oipRoutes(state));
 */
export function oipRoutes(state: AppState): RouteDefinition[] {
	const { host } = state;
	const serverMetadata: RouteDefinition = {
		method: "get",
		path: "/v2",
		summary: "Server metadata",
		tags: ["oip"],
		responses: {
			200: { description: "Server metadata", schema: schemas.serverMetadata },
		},
		handler: (c) =>
			c.json({
				...state.server,
				extensions: state.modelRoot ? ["model_repository"] : [],
			}),
	};
	const perModel = [
		"/v2/models/:name",
		"/v2/models/:name/versions/:version",
	].flatMap((base): RouteDefinition[] => [
		{
			method: "get",
			path: base,
			summary: "Model metadata",
			tags: ["oip"],
			responses: {
				200: { description: "Model metadata", schema: schemas.modelMetadata },
				404: PREDICTION_ERRORS[404],
			},
			handler: (c) => {
				const model = findModel(
					state,
					c.req.param("name") as string,
					c.req.param("version"),
				);
				return c.json(toModelMetadata(model, host.versions(model.name)));
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
				503: { description: "Draining", schema: schemas.modelReadyBody },
			},
			handler: (c) => {
				const name = c.req.param("name") as string;
				const model = host.resolve(name, c.req.param("version"));
				const ready = model !== undefined && !state.draining;
				return c.json({ name, ready }, ready ? 200 : model ? 503 : 404);
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
				...PREDICTION_ERRORS,
			},
			middleware: [readBody(state), admit(state)],
			handler: async (c) => {
				const model = findModel(
					state,
					c.req.param("name") as string,
					c.req.param("version"),
				);
				const request = parse(
					schemas.inferRequest,
					parseJson(bodyText(c)),
					acceptsInferRequest,
				);
				const { predictions, serverTiming } = await runPrediction(
					state,
					c,
					model,
					toRecords(request, model.manifest.features),
				);
				return predictionResponse(
					toInferResponse(model, request, predictions),
					serverTiming,
				);
			},
		},
	]);
	return [serverMetadata, ...perModel];
}
