import { fileURLToPath } from "node:url";
import { loadOnnxRuntime, ModelHost } from "@mdp/core";
import { createApp, type ServingApp } from "@mdp/core/http";
import { warmUpRecord } from "./warm-up.ts";

/** How long each part of a function instance's initialisation took, in milliseconds. */
export interface InitPhases {
	/** The process's start, Unix epoch ms (`performance.timeOrigin`): the platform subtracts its spawn time. */
	processStartEpochMs: number;
	/** Process start → this module running: the Node runtime, the runtime client and the bundle's code. */
	runtimeMs: number;
	/** Loading onnxruntime-node (the native library). */
	onnxRuntimeLoadMs: number;
	/** Reading and verifying the bundle, creating the ONNX session and its warm-up run. */
	sessionMs: number;
	/** One request through the whole handler at init (when the handler does one), so the first is not cold. */
	warmUpMs?: number;
}

/**
 * The marker of the one stdout line a function instance writes at init; the platform looks for it.
 *
 * @example
 * if (line.includes(INIT_EVENT)) phases = JSON.parse(line);
 */
export const INIT_EVENT = "mdp-function-init";

/** Options of {@link initFunction}. */
export interface InitFunctionOptions {
	/**
	 * Sends one `POST /predict` (the JSON `body`, one record of the model's own) through the provider's
	 * handler and resolves to its HTTP status. Run at init, after the app is built: the first invocation
	 * then finds Node's fetch classes, the router and the prediction path loaded and compiled, as a
	 * production handler's warm-up does. The request counts once in the instance's `/metrics`.
	 */
	warmUp?: (serving: ServingApp, body: string) => Promise<number>;
}

/**
 * Initialises a function instance at module scope (Lambda's init phase): loads onnxruntime-node and the
 * model bundle beside the handler (`./model`, or `$MDP_BUNDLE`) into a model host, builds the serving
 * app, optionally sends a warm-up request, and prints one JSON line with the init phases. A warm instance
 * reuses all of it.
 *
 * @example
 * const { serving } = await initFunction(new URL("./model", import.meta.url));
 */
export async function initFunction(
	modelDir: URL,
	options: InitFunctionOptions = {},
): Promise<{ serving: ServingApp; phases: InitPhases }> {
	const moduleStart = performance.now();
	process.env.ORT_DISABLE_TELEMETRY ??= "1";
	await loadOnnxRuntime();
	const runtimeLoaded = performance.now();
	const host = new ModelHost();
	const model = await host.load(
		process.env.MDP_BUNDLE ?? fileURLToPath(modelDir),
	);
	const sessionReady = performance.now();
	const serving = createApp({
		host,
		server: { name: "mdp-serverless", version: "0.1.0" },
		// Errors that became a 500 go to stderr: the function's log (CloudWatch, Cloud Logging).
		onUnexpectedError: (error) => {
			process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
		},
	});
	const phases: InitPhases = {
		processStartEpochMs: performance.timeOrigin,
		runtimeMs: round(moduleStart),
		onnxRuntimeLoadMs: round(runtimeLoaded - moduleStart),
		sessionMs: round(sessionReady - runtimeLoaded),
	};
	if (options.warmUp) {
		const started = performance.now();
		const body = JSON.stringify({ records: [warmUpRecord(model.manifest)] });
		// A failed warm-up only costs the first invocation its speed: say so, and go on serving.
		const status = await options.warmUp(serving, body).catch((error) => {
			process.stderr.write(
				`warm-up request failed: ${(error as Error)?.stack ?? String(error)}\n`,
			);
			return undefined;
		});
		if (status !== undefined && status !== 200)
			process.stderr.write(`warm-up request answered HTTP ${status}\n`);
		phases.warmUpMs = round(performance.now() - started);
	}
	// One raw line on stdout (not console.log, which a runtime client may prefix with a request id).
	process.stdout.write(`${JSON.stringify({ event: INIT_EVENT, ...phases })}\n`);
	return { serving, phases };
}

function round(ms: number): number {
	return Math.round(ms * 1000) / 1000;
}
