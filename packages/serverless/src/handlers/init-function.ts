import { fileURLToPath } from "node:url";
import { loadOnnxRuntime, ModelHost } from "@mdp/core";
import { createApp, type ServingApp } from "@mdp/core/http";

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
}

/**
 * The marker of the one stdout line a function instance writes at init; the platform looks for it.
 *
 * @example
 * if (line.includes(INIT_EVENT)) phases = JSON.parse(line);
 */
export const INIT_EVENT = "mdp-function-init";

/**
 * Initialises a function instance at module scope (Lambda's init phase): loads onnxruntime-node and the
 * model bundle beside the handler (`./model`, or `$MDP_BUNDLE`) into a model host, builds the serving
 * app, and prints one JSON line with the init phases. A warm instance reuses all of it.
 *
 * @example
 * const { serving } = await initFunction(new URL("./model", import.meta.url));
 */
export async function initFunction(
	modelDir: URL,
): Promise<{ serving: ServingApp; phases: InitPhases }> {
	const moduleStart = performance.now();
	process.env.ORT_DISABLE_TELEMETRY ??= "1";
	await loadOnnxRuntime();
	const runtimeLoaded = performance.now();
	const host = new ModelHost();
	await host.load(process.env.MDP_BUNDLE ?? fileURLToPath(modelDir));
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
	// One raw line on stdout (not console.log, which a runtime client may prefix with a request id).
	process.stdout.write(`${JSON.stringify({ event: INIT_EVENT, ...phases })}\n`);
	return { serving, phases };
}

function round(ms: number): number {
	return Math.round(ms * 1000) / 1000;
}
