import { CoreError } from "../../errors.ts";
import type { AppState } from "../app-state.ts";
import { acceptsPredictRequest } from "../fast-accept.ts";
import { admit } from "../middleware/admission.ts";
import { bodyText, readBody } from "../middleware/limits.ts";
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
 * The plain prediction API: `POST /predict` with `{ model?, version?, records }`.
 *
 * @example
 * registerRoutes(app, predictRoutes(state));
 */
export function predictRoutes(state: AppState): RouteDefinition[] {
	return [
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
				...PREDICTION_ERRORS,
			},
			middleware: [readBody(state), admit(state)],
			handler: async (c) => {
				const body = parse(
					schemas.predictRequest,
					parseJson(bodyText(c)),
					acceptsPredictRequest,
				);
				if (body.version !== undefined && body.model === undefined) {
					throw new CoreError(
						"INVALID_INPUT",
						"version: given without model; name the model whose version this is",
					);
				}
				const model =
					body.model === undefined
						? state.host.defaultModel()
						: findModel(state, body.model, body.version);
				if (!model) throw new CoreError("UNAVAILABLE", "no model is loaded");
				const { predictions, serverTiming } = await runPrediction(
					state,
					c,
					model,
					body.records,
				);
				return predictionResponse(
					{ model: { name: model.name, version: model.version }, predictions },
					serverTiming,
				);
			},
		},
	];
}
