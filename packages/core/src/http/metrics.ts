import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Latency buckets in seconds: 50 µs to 10 s, dense where a local prediction lands. */
const LATENCY_BUCKETS = [
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** The Prometheus metrics of one app, in their own registry (several apps can share a process). */
export interface AppMetrics {
	registry: Registry;
	requests: Counter<"route" | "method" | "status">;
	requestDuration: Histogram<"route" | "method">;
	inFlight: Gauge;
	predictions: Counter<"model" | "version">;
	stageDuration: Histogram<"model" | "stage">;
	batchRows: Histogram<"model">;
	batchRequests: Histogram<"model">;
	modelLoadSeconds: Gauge<"model" | "version">;
	modelInfo: Gauge<"model" | "version" | "sha256">;
}

/** Creates the `mdp_` metrics: latency histograms (not summaries), statuses, in-flight, batches and models. */
export function createAppMetrics(): AppMetrics {
	const registry = new Registry();
	const registers = [registry];
	return {
		registry,
		requests: new Counter({
			name: "mdp_http_requests_total",
			help: "HTTP requests by route, method and status",
			labelNames: ["route", "method", "status"],
			registers,
		}),
		requestDuration: new Histogram({
			name: "mdp_http_request_duration_seconds",
			help: "Time from request to response, server side",
			labelNames: ["route", "method"],
			buckets: LATENCY_BUCKETS,
			registers,
		}),
		inFlight: new Gauge({
			name: "mdp_http_requests_in_flight",
			help: "Requests being handled",
			registers,
		}),
		predictions: new Counter({
			name: "mdp_predictions_total",
			help: "Records predicted",
			labelNames: ["model", "version"],
			registers,
		}),
		stageDuration: new Histogram({
			name: "mdp_inference_stage_duration_seconds",
			help: "Time per request in each stage: queue (batching), features, inference",
			labelNames: ["model", "stage"],
			buckets: LATENCY_BUCKETS,
			registers,
		}),
		batchRows: new Histogram({
			name: "mdp_batch_rows",
			help: "Rows per model run",
			labelNames: ["model"],
			buckets: BATCH_BUCKETS,
			registers,
		}),
		batchRequests: new Histogram({
			name: "mdp_batch_requests",
			help: "Requests merged into one model run",
			labelNames: ["model"],
			buckets: BATCH_BUCKETS,
			registers,
		}),
		modelLoadSeconds: new Gauge({
			name: "mdp_model_load_seconds",
			help: "Time to read, verify, create and warm up a model's session",
			labelNames: ["model", "version"],
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
