import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { BoundCounter, BoundHistogram } from "./bound-metrics.ts";

/** Latency buckets in seconds: 50 µs to 10 s, dense where a local prediction lands. */
const LATENCY_BUCKETS = [
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** The Prometheus metrics of one app, in their own registry (several apps can share a process). */
export interface AppMetrics {
	registry: Registry;
	requests: BoundCounter<"route" | "method" | "status">;
	requestDuration: BoundHistogram<"route" | "method">;
	inFlight: Gauge;
	predictions: BoundCounter<"model" | "version">;
	stageDuration: BoundHistogram<"model" | "stage">;
	batchRows: BoundHistogram<"model">;
	batchRequests: BoundHistogram<"model">;
	modelLoadSeconds: Gauge<"model" | "version">;
	modelInfo: Gauge<"model" | "version" | "sha256">;
	/** Numeric values outside the training range, per feature (data drifting away from training). */
	featureOutOfRange: Counter<"model" | "feature">;
	/** Missing values that took the feature's declared default. */
	featureImputed: Counter<"model" | "feature">;
	/** Categorical values never seen in training (refused). */
	featureUnseen: Counter<"model" | "feature">;
	/**
	 * Records one HTTP request (label children are bound once per label set, see `bound-metrics.ts`);
	 * `status` is the HTTP status, or `"aborted"` for a client that went away mid-request.
	 */
	recordRequest(
		route: string,
		method: string,
		status: number | "aborted",
		seconds: number,
	): void;
	/** Records one prediction request: rows predicted and the time of each stage, in milliseconds. */
	recordPrediction(
		model: string,
		version: string,
		rows: number,
		stagesMs: { queueMs: number; featuresMs: number; inferenceMs: number },
	): void;
	/** Records one model run of a batching predictor: rows and requests merged into it. */
	recordBatch(model: string, rows: number, requests: number): void;
}

/** A tiny cache of label children, keyed by the joined label values. */
function cached<T>(
	create: (...values: string[]) => T,
): (...values: string[]) => T {
	const children = new Map<string, T>();
	return (...values) => {
		const key = values.join("\u0000");
		let child = children.get(key);
		if (!child) {
			child = create(...values);
			children.set(key, child);
		}
		return child;
	};
}

/** Options of {@link createAppMetrics}. */
export interface AppMetricsOptions {
	/**
	 * Adds prom-client's Node.js process metrics to the registry: event-loop delay percentiles
	 * (`nodejs_eventloop_lag_p99_seconds`), GC time by kind (`nodejs_gc_duration_seconds`), heap and CPU:
	 * the evidence for where a latency tail comes from. Process-wide: one app per process should ask.
	 */
	process?: boolean;
	/**
	 * Reads the predictions in flight when `/metrics` is scraped (`mdp_http_requests_in_flight`), so
	 * requests do not update a gauge twice each. Absent: the gauge reads 0.
	 */
	inFlight?: () => number;
}

/** Creates the `mdp_` metrics: latency histograms (not summaries), statuses, in-flight, batches and models. */
export function createAppMetrics(options: AppMetricsOptions = {}): AppMetrics {
	const registry = new Registry();
	const readInFlight = options.inFlight ?? (() => 0);
	if (options.process) collectDefaultMetrics({ register: registry });
	const registers = [registry];
	const requests = new BoundCounter({
		name: "mdp_http_requests_total",
		help: "HTTP requests by route, method and status",
		labelNames: ["route", "method", "status"] as const,
		registers,
	});
	const requestDuration = new BoundHistogram({
		name: "mdp_http_request_duration_seconds",
		help: "Time from request to response, server side",
		labelNames: ["route", "method"] as const,
		buckets: LATENCY_BUCKETS,
		registers,
	});
	const predictions = new BoundCounter({
		name: "mdp_predictions_total",
		help: "Records predicted",
		labelNames: ["model", "version"] as const,
		registers,
	});
	const stageDuration = new BoundHistogram({
		name: "mdp_inference_stage_duration_seconds",
		help: "Time per request in each stage: queue (batching), features, inference",
		labelNames: ["model", "stage"] as const,
		buckets: LATENCY_BUCKETS,
		registers,
	});
	const requestChild = cached((route, method, status) => ({
		count: requests.labels({ route, method, status }),
		duration: requestDuration.labels({ route, method }),
	}));
	const predictionChild = cached((model, version) => ({
		rows: predictions.labels({ model, version }),
		queue: stageDuration.labels({ model, stage: "queue" }),
		features: stageDuration.labels({ model, stage: "features" }),
		inference: stageDuration.labels({ model, stage: "inference" }),
	}));
	const batchRows = new BoundHistogram({
		name: "mdp_batch_rows",
		help: "Rows per model run",
		labelNames: ["model"] as const,
		buckets: BATCH_BUCKETS,
		registers,
	});
	const batchRequests = new BoundHistogram({
		name: "mdp_batch_requests",
		help: "Requests merged into one model run",
		labelNames: ["model"] as const,
		buckets: BATCH_BUCKETS,
		registers,
	});
	const batchChild = cached((model) => ({
		rows: batchRows.labels({ model }),
		requests: batchRequests.labels({ model }),
	}));
	return {
		registry,
		requests,
		requestDuration,
		inFlight: new Gauge({
			name: "mdp_http_requests_in_flight",
			help: "Prediction requests being handled",
			registers,
			collect() {
				this.set(readInFlight());
			},
		}),
		predictions,
		stageDuration,
		batchRows,
		batchRequests,
		modelLoadSeconds: new Gauge({
			name: "mdp_model_load_seconds",
			help: "Time to read, verify, create and warm up a model's session",
			labelNames: ["model", "version"],
			registers,
		}),
		recordRequest(route, method, status, seconds) {
			const child = requestChild(route, method, String(status));
			child.count.inc();
			child.duration.observe(seconds);
		},
		recordPrediction(model, version, rows, stagesMs) {
			const child = predictionChild(model, version);
			child.rows.inc(rows);
			child.queue.observe(stagesMs.queueMs / 1000);
			child.features.observe(stagesMs.featuresMs / 1000);
			child.inference.observe(stagesMs.inferenceMs / 1000);
		},
		recordBatch(model, rows, requests) {
			const child = batchChild(model);
			child.rows.observe(rows);
			child.requests.observe(requests);
		},
		featureOutOfRange: new Counter({
			name: "mdp_feature_out_of_range_total",
			help: "Numeric feature values outside the training range (stats.min..stats.max of mdp.json)",
			labelNames: ["model", "feature"],
			registers,
		}),
		featureImputed: new Counter({
			name: "mdp_feature_imputed_total",
			help: "Missing feature values that took the declared default",
			labelNames: ["model", "feature"],
			registers,
		}),
		featureUnseen: new Counter({
			name: "mdp_feature_unseen_category_total",
			help: "Categorical feature values not seen in training (refused with 400)",
			labelNames: ["model", "feature"],
			registers,
		}),
		modelInfo: new Gauge({
			name: "mdp_model_info",
			help: "Served models (value 1), with version and model sha256",
			labelNames: ["model", "version", "sha256"],
			registers,
		}),
	};
}
