import type * as Ort from "onnxruntime-node";
import { CoreError } from "./errors.ts";
import type { FeatureBatch } from "./extract-features.ts";

/** The one seam between the ML system and an inference runtime. */
export interface Model {
	/** Runs one batch; returns the output tensor's data, row-major `[batch.rows, outputs]`. */
	run(batch: FeatureBatch): Promise<Float32Array>;
	/** Frees the runtime's resources; the model cannot run afterwards. */
	close(): Promise<void>;
}

/** Options of {@link loadOnnxModel}. */
export interface LoadOnnxModelOptions {
	/** Graph input name (a float32 `[N, columns]` tensor). */
	inputName: string;
	/** Graph output name (a float32 `[N, K]` tensor). */
	outputName: string;
	/** Columns of the input, used for the warm-up run. */
	columns: number;
	/** Threads inside one operator; 1 by default, which is fastest for small models and leaves cores to the server. */
	intraOpNumThreads?: number;
	/** Threads across operators; 1 by default. */
	interOpNumThreads?: number;
	/** Run one zero batch after load so the first real request does not pay for lazy initialisation. Default true. */
	warmUp?: boolean;
}

let runtime: Promise<typeof Ort> | undefined;

/**
 * Loads onnxruntime-node on first use. Its Linux build ships telemetry that writes files and looks up
 * Microsoft's collector; `ORT_DISABLE_TELEMETRY` must be set before the native binding loads, which
 * happens when the module is evaluated, so this is the only place that imports it, lazily. A plain
 * dynamic import also lets bundlers (esbuild, for the single executable) see and bundle it.
 */
export function loadOnnxRuntime(): Promise<typeof Ort> {
	if (!runtime) {
		process.env.ORT_DISABLE_TELEMETRY ??= "1";
		// A CommonJS module: Node's ESM loader puts module.exports on `default`, bundlers may not.
		runtime = import("onnxruntime-node").then(
			(module: unknown) =>
				((module as { default?: typeof Ort }).default ?? module) as typeof Ort,
		);
	}
	return runtime;
}

/**
 * Creates an ONNX Runtime session from model bytes and checks its input and output names.
 *
 * @example
 * const model = await loadOnnxModel(bundle.modelBytes, { inputName: "features", outputName: "probabilities", columns: 9 });
 */
export async function loadOnnxModel(
	bytes: Uint8Array,
	options: LoadOnnxModelOptions,
): Promise<Model> {
	const ort = await loadOnnxRuntime();
	let session: Ort.InferenceSession;
	try {
		session = await ort.InferenceSession.create(bytes, {
			intraOpNumThreads: options.intraOpNumThreads ?? 1,
			interOpNumThreads: options.interOpNumThreads ?? 1,
			executionMode: "sequential",
			graphOptimizationLevel: "all",
		});
	} catch (error) {
		throw new CoreError(
			"MODEL_LOAD_FAILED",
			`onnxruntime could not load the model: ${(error as Error).message}`,
			{
				cause: error,
			},
		);
	}
	const { inputName, outputName, columns } = options;
	if (
		!session.inputNames.includes(inputName) ||
		!session.outputNames.includes(outputName)
	) {
		await session.release();
		throw new CoreError(
			"MODEL_LOAD_FAILED",
			`the ONNX graph has inputs [${session.inputNames.join(", ")}] and outputs [${session.outputNames.join(", ")}], expected input "${inputName}" and output "${outputName}"`,
		);
	}
	const fetches = [outputName];
	const pickOutput = (results: Ort.InferenceSession.ReturnType) => {
		const output = results[outputName];
		if (!output || !(output.data instanceof Float32Array)) {
			throw new CoreError(
				"INFERENCE_FAILED",
				`output "${outputName}" is not a float32 tensor`,
			);
		}
		return output.data;
	};
	const model: Model = {
		run(batch) {
			const input = new ort.Tensor("float32", batch.data, [
				batch.rows,
				batch.columns,
			]);
			// A promise chain rather than `await`: one microtask hop less on a path measured in microseconds.
			return session.run({ [inputName]: input }, fetches).then(pickOutput);
		},
		close: () => session.release(),
	};
	if (options.warmUp ?? true) {
		try {
			await model.run({ data: new Float32Array(columns), rows: 1, columns });
		} catch (error) {
			await session.release();
			throw new CoreError(
				"MODEL_LOAD_FAILED",
				`warm-up run failed: ${(error as Error).message}`,
				{ cause: error },
			);
		}
	}
	return model;
}
