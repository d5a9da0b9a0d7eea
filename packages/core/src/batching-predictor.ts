import type { BundleManifest } from "./bundle-manifest.ts";
import { CoreError, toCoreError } from "./errors.ts";
import {
	createFeatureExtractor,
	type FeatureBatch,
} from "./extract-features.ts";
import type { Model } from "./load-onnx-model.ts";
import {
	type Prediction,
	type Predictor,
	type PredictTimings,
	startRun,
	toPredictions,
} from "./predictor.ts";

/** Options of {@link createBatchingPredictor}. */
export interface BatchingOptions {
	/** Largest batch sent to the model, counted in rows (records), not requests. */
	maxBatchRows: number;
	/**
	 * Longest a request waits for others to join its batch, in milliseconds. 0 (the default) is adaptive:
	 * an idle model runs at once, and requests that arrive while it is busy form the next batch.
	 */
	maxDelayMs?: number;
	/** Called after each model run with its size, for metrics. */
	onBatch?: (rows: number, requests: number) => void;
}

interface Pending {
	batch: FeatureBatch;
	enqueuedAt: number;
	featuresMs: number;
	timings: PredictTimings | undefined;
	resolve: (predictions: Prediction[]) => void;
	reject: (error: unknown) => void;
}

/**
 * A predictor that merges concurrent requests into one model run, up to `maxBatchRows` rows, and splits the
 * output back per request. Each request is validated on its own, so one bad request never fails others.
 * Only one run is in flight at a time: onnxruntime-node runs synchronously on the event loop, so a second
 * concurrent run would only queue behind the first; it is better spent as a bigger batch.
 */
export function createBatchingPredictor(
	options: { manifest: BundleManifest; model: Model } & BatchingOptions,
): Predictor {
	const { manifest, model, maxBatchRows, maxDelayMs = 0, onBatch } = options;
	const extractor = createFeatureExtractor(manifest.features);
	const labels = manifest.target.labels;
	const columns = extractor.columns.length;
	let queue: Pending[] = [];
	let queuedRows = 0;
	let running = false;
	let scheduled = false;
	let timer: NodeJS.Timeout | undefined;

	function schedule(): void {
		if (running || scheduled || queue.length === 0) return;
		const waited = performance.now() - (queue[0] as Pending).enqueuedAt;
		if (
			maxDelayMs === 0 ||
			queuedRows >= maxBatchRows ||
			waited >= maxDelayMs
		) {
			if (timer) clearTimeout(timer);
			timer = undefined;
			scheduled = true;
			// Driven by queue depth, not a timer: the run waits only for setImmediate, which comes after the
			// poll phase, so every request already read from a socket in this turn joins the batch. An ONNX model
			// runs synchronously inside flush (loadOnnxModel), so an isolated request pays this one turn only.
			setImmediate(flush);
		} else {
			timer ??= setTimeout(() => {
				timer = undefined;
				schedule();
			}, maxDelayMs - waited);
		}
	}

	function flush(): void {
		scheduled = false;
		if (running || queue.length === 0) return;
		let rows = 0;
		let taken = 0;
		while (taken < queue.length) {
			const next = (queue[taken] as Pending).batch.rows;
			if (taken > 0 && rows + next > maxBatchRows) break;
			rows += next;
			taken++;
		}
		const batch = queue.slice(0, taken);
		queue = queue.slice(taken);
		queuedRows -= rows;
		running = true;
		const started = performance.now();
		const data =
			batch.length === 1
				? (batch[0] as Pending).batch.data
				: concat(batch, rows * columns);
		startRun(model, { data, rows, columns }).then(
			(output) => {
				const inferenceMs = performance.now() - started;
				const k = labels.length;
				if (output.length !== rows * k) {
					// Never split a result of the wrong shape: rows would come back misaligned.
					const failure = new CoreError(
						"INFERENCE_FAILED",
						`the model returned ${output.length} values for ${rows} rows × ${k} labels`,
					);
					for (const p of batch) p.reject(failure);
					done(rows, batch.length);
					return;
				}
				let offset = 0;
				for (const p of batch) {
					const n = p.batch.rows;
					if (p.timings) {
						p.timings.queueMs = started - p.enqueuedAt;
						p.timings.featuresMs = p.featuresMs;
						p.timings.inferenceMs = inferenceMs;
					}
					try {
						p.resolve(
							toPredictions(
								output.subarray(offset * k, (offset + n) * k),
								n,
								labels,
							),
						);
					} catch (error) {
						p.reject(error);
					}
					offset += n;
				}
				done(rows, batch.length);
			},
			(error: unknown) => {
				const failure = toCoreError(error, "INFERENCE_FAILED");
				for (const p of batch) p.reject(failure);
				done(rows, batch.length);
			},
		);
	}

	function done(rows: number, requests: number): void {
		running = false;
		onBatch?.(rows, requests);
		schedule();
	}

	return {
		manifest,
		extractor,
		predict(records, timings) {
			const started = performance.now();
			let batch: FeatureBatch;
			try {
				batch = extractor.extract(records);
			} catch (error) {
				return Promise.reject(error);
			}
			if (batch.rows === 0) return Promise.resolve([]);
			const enqueuedAt = performance.now();
			return new Promise<Prediction[]>((resolve, reject) => {
				queue.push({
					batch,
					enqueuedAt,
					featuresMs: enqueuedAt - started,
					timings,
					resolve,
					reject,
				});
				queuedRows += batch.rows;
				schedule();
			});
		},
		async close() {
			if (timer) clearTimeout(timer);
			await model.close();
		},
	};
}

function concat(batch: readonly Pending[], length: number): Float32Array {
	const data = new Float32Array(length);
	let at = 0;
	for (const p of batch) {
		data.set(p.batch.data, at);
		at += p.batch.data.length;
	}
	return data;
}
