import type { BundleManifest } from "./bundle-manifest.ts";
import { CoreError, toCoreError } from "./errors.ts";
import {
	createFeatureExtractor,
	type FeatureBatch,
	type FeatureExtractor,
} from "./extract-features.ts";
import type { Model } from "./load-onnx-model.ts";

/** The prediction for one record. */
export interface Prediction {
	/** The most probable label (the first one on a tie). */
	label: string;
	/** Probability per label, in the manifest's label order. */
	probabilities: Record<string, number>;
}

/** Where the time of one `predict` call went, in milliseconds; filled in when passed. */
export interface PredictTimings {
	/** Waiting for a batch slot (adaptive batching only; 0 otherwise). */
	queueMs: number;
	featuresMs: number;
	inferenceMs: number;
}

/** Validate → extract → run → post-process, for one model bundle. */
export interface Predictor {
	readonly manifest: BundleManifest;
	readonly extractor: FeatureExtractor;
	/** Predicts a batch of records; throws `CoreError("INVALID_INPUT")` with field-level issues for bad records. */
	predict(
		records: readonly unknown[],
		timings?: PredictTimings,
	): Promise<Prediction[]>;
	/** Releases the model. */
	close(): Promise<void>;
}

/** Options of {@link createPredictor}. */
export interface CreatePredictorOptions {
	manifest: BundleManifest;
	model: Model;
}

/**
 * `setImmediate` in Node. A browser page (the static pattern's) has none, and its model (onnxruntime-web)
 * is asynchronous anyway: there the run starts at once, as it always did.
 */
const nextTurn: (run: () => void) => void =
	typeof setImmediate === "function"
		? (run) => setImmediate(run)
		: (run) => run();

/**
 * Starts a model run. A `Model` that throws instead of returning a rejected promise gives a rejected
 * promise here: its error must fail the request, not escape from a `setImmediate` callback or leave a
 * batching predictor marked as running forever.
 */
export function startRun(
	model: Model,
	batch: FeatureBatch,
): Promise<Float32Array> {
	try {
		return model.run(batch);
	} catch (error) {
		return Promise.reject(error);
	}
}

/** Creates a predictor from a manifest and any {@link Model} (a real ONNX session or a fake). */
export function createPredictor(options: CreatePredictorOptions): Predictor {
	const { manifest, model } = options;
	const extractor = createFeatureExtractor(manifest.features);
	const labels = manifest.target.labels;
	return {
		manifest,
		extractor,
		predict(records, timings) {
			const started = timings ? performance.now() : 0;
			let batch: FeatureBatch;
			try {
				batch = extractor.extract(records);
			} catch (error) {
				return Promise.reject(error);
			}
			if (batch.rows === 0) return Promise.resolve([]);
			const extracted = timings ? performance.now() : 0;
			const rows = batch.rows;
			// The model runs in a setImmediate callback of its own, not inside this call: an ONNX model runs
			// synchronously, and a caller that starts many predictions in one turn (a load driver, a loop
			// without await) would otherwise see every result only when the whole turn ends, and wait on it.
			return new Promise<Prediction[]>((resolve, reject) => {
				nextTurn(() => {
					startRun(model, batch).then(
						(output) => {
							if (timings) {
								timings.queueMs = 0;
								timings.featuresMs = extracted - started;
								timings.inferenceMs = performance.now() - extracted;
							}
							try {
								resolve(toPredictions(output, rows, labels));
							} catch (error) {
								reject(error);
							}
						},
						(error: unknown) => reject(toCoreError(error, "INFERENCE_FAILED")),
					);
				});
			});
		},
		close: () => model.close(),
	};
}

/** Turns a row-major `[rows, labels]` probability matrix into one {@link Prediction} per row. Pure. */
export function toPredictions(
	output: Float32Array,
	rows: number,
	labels: readonly string[],
): Prediction[] {
	const k = labels.length;
	if (output.length !== rows * k) {
		throw new CoreError(
			"INFERENCE_FAILED",
			`the model returned ${output.length} values for ${rows} rows × ${k} labels`,
		);
	}
	const predictions = new Array<Prediction>(rows);
	for (let r = 0; r < rows; r++) {
		const probabilities: Record<string, number> = {};
		let best = 0;
		for (let j = 0; j < k; j++) {
			const p = output[r * k + j] as number;
			// The last line against a silent wrong answer: never a non-finite probability.
			if (!Number.isFinite(p)) {
				throw new CoreError(
					"INVALID_INPUT",
					`record ${r}: the model gave no finite probabilities for it (feature values far outside what it was trained on?)`,
				);
			}
			probabilities[labels[j] as string] = p;
			if (p > (output[r * k + best] as number)) best = j;
		}
		predictions[r] = { label: labels[best] as string, probabilities };
	}
	return predictions;
}
