import type { Context } from "hono";
import { CoreError } from "../errors.ts";
import type { HostedModel } from "../model-host.ts";
import type { Prediction, PredictTimings } from "../predictor.ts";
import type { AppState } from "./app-state.ts";
import { HttpError } from "./http-error.ts";
import { holdUntilSettled } from "./middleware/admission.ts";
import { truncate } from "./request-body.ts";

/**
 * Runs one prediction request on a served model: the record limit (413), the request deadline (504; the
 * admission slot is held until the inference really ends) and the metrics. Returns the predictions and
 * the `Server-Timing` value for {@link predictionResponse}.
 *
 * @example
 * const { predictions, serverTiming } = await runPrediction(state, c, model, body.records);
 */
export async function runPrediction(
	state: AppState,
	c: Context,
	model: HostedModel,
	records: readonly unknown[],
): Promise<{ predictions: Prediction[]; serverTiming: string }> {
	const { maxRecords, requestTimeoutMs } = state.limits;
	if (records.length > maxRecords) {
		throw new HttpError(
			413,
			`${records.length} records in one request; the limit is ${maxRecords}`,
		);
	}
	const timings: PredictTimings = { queueMs: 0, featuresMs: 0, inferenceMs: 0 };
	const work = state.host.use(model, (predictor) =>
		predictor.predict(records, timings),
	);
	// One promise settled by whichever comes first, the work or the deadline (cheaper than Promise.race
	// over a second promise, on every request). The deadline is an entry in the app's deadline queue, not
	// a timer of its own (see deadlines.ts).
	const predictions = await new Promise<Prediction[]>((resolve, reject) => {
		const deadline = state.deadlines.add(() => {
			holdUntilSettled(c, work);
			reject(
				new CoreError(
					"TIMEOUT",
					`prediction took longer than ${requestTimeoutMs} ms`,
				),
			);
		});
		work.then(
			(result) => {
				state.deadlines.settle(deadline);
				resolve(result);
			},
			(error: unknown) => {
				state.deadlines.settle(deadline);
				reject(error);
			},
		);
	});
	state.metrics.recordPrediction(
		model.name,
		model.version,
		predictions.length,
		timings,
	);
	return {
		predictions,
		serverTiming: `queue;dur=${timings.queueMs.toFixed(3)}, features;dur=${timings.featuresMs.toFixed(3)}, inference;dur=${timings.inferenceMs.toFixed(3)}`,
	};
}

/**
 * The 200 answer of a prediction route, with its `Server-Timing` header. The headers are a plain object:
 * Hono's `c.header()`, or `c.json()` with a second header, builds a WHATWG `Headers` that the Node
 * adapter converts back to Node's header object on every response; a plain object is written as it is.
 *
 * @example
 * const { predictions, serverTiming } = await runPrediction(state, c, model, records);
 * return predictionResponse({ model: { name, version }, predictions }, serverTiming);
 */
export function predictionResponse(
	body: unknown,
	serverTiming: string,
): Response {
	return new Response(JSON.stringify(body), {
		status: 200,
		headers: {
			"Content-Type": "application/json",
			"Server-Timing": serverTiming,
		},
	});
}

/**
 * The served model of that name (and version), or a 404 naming what is served.
 *
 * @example
 * findModel(state, "penguins", "1.0.0");
 */
export function findModel(
	state: AppState,
	name: string,
	version?: string,
): HostedModel {
	const { host } = state;
	const model = host.resolve(name, version);
	if (model) return model;
	const known = host.versions(name);
	const shown = JSON.stringify(truncate(name, 100));
	throw new CoreError(
		"NOT_FOUND",
		known.length > 0
			? `model ${shown} has no version ${JSON.stringify(truncate(version ?? "", 100))}; served versions: ${known.join(", ")}`
			: `unknown model ${shown}; served models: ${
					host
						.list()
						.map((m) => m.name)
						.join(", ") || "none"
				}`,
	);
}
