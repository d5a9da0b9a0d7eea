import type * as Ort from "onnxruntime-node";
import type { binding as NativeBinding } from "onnxruntime-node/dist/binding.js";
import { CoreError } from "./errors.ts";
import type { FeatureBatch } from "./extract-features.ts";

/** The one seam between the ML system and an inference runtime. */
export interface Model {
	/**
	 * Runs one batch; returns the output tensor's data, row-major `[batch.rows, outputs]`. The work may be
	 * done before `run` returns (the ONNX model runs synchronously): a caller that wants requests read in
	 * the same event-loop turn to join one batch defers the call itself (see `createBatchingPredictor`).
	 */
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
	/**
	 * Call onnxruntime-node's native session directly (default true) rather than through its JavaScript
	 * `InferenceSession`, when the installed onnxruntime-node has it where 1.30 does. The wrapper checks
	 * arguments we never get wrong, wraps outputs we unwrap again and defers every run to `setImmediate`;
	 * skipping it takes ~35% off a one-row run (see the package README, "Benchmark: predictor overhead").
	 */
	direct?: boolean;
}

/** An ONNX model loaded by {@link loadOnnxModel}. */
export interface OnnxModel extends Model {
	/** Whether runs go to the native session directly (see {@link LoadOnnxModelOptions.direct}). */
	readonly direct: boolean;
}

type Binding = typeof NativeBinding;
type NativeSession = InstanceType<Binding["InferenceSession"]>;

let runtime: Promise<typeof Ort> | undefined;
let native: Promise<Binding | undefined> | undefined;

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
 * onnxruntime-node's native binding (`dist/binding.js`, typed by the package's own `binding.d.ts`): the
 * synchronous session its JavaScript `InferenceSession` wraps. Not part of its documented API, so it is
 * checked, not trusted: undefined when the module is missing or has another shape, and the model then runs
 * through the public API. The version is pinned (pnpm catalog), and a test fails if the direct path is lost.
 */
function loadNativeBinding(): Promise<Binding | undefined> {
	native ??= loadOnnxRuntime()
		.then(() => import("onnxruntime-node/dist/binding.js"))
		.then((module: unknown) => {
			const m = ((module as { default?: unknown }).default ?? module) as {
				binding?: Binding;
				initOrt?: () => void;
			};
			if (
				typeof m.initOrt !== "function" ||
				typeof m.binding?.InferenceSession !== "function"
			)
				return undefined;
			// Idempotent; the public API calls it on its first session too (log level, Tensor class).
			m.initOrt();
			return m.binding;
		})
		.catch(() => undefined);
	return native;
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
): Promise<OnnxModel> {
	const ort = await loadOnnxRuntime();
	const binding =
		options.direct === false ? undefined : await loadNativeBinding();
	const sessionOptions: Ort.InferenceSession.SessionOptions = {
		intraOpNumThreads: options.intraOpNumThreads ?? 1,
		interOpNumThreads: options.interOpNumThreads ?? 1,
		executionMode: "sequential",
		graphOptimizationLevel: "all",
	};
	const { inputName, outputName, columns } = options;
	let session: Session;
	try {
		session = binding
			? openNative(binding, bytes, sessionOptions)
			: await openWrapped(ort, bytes, sessionOptions);
	} catch (error) {
		throw new CoreError(
			"MODEL_LOAD_FAILED",
			`onnxruntime could not load the model: ${(error as Error).message}`,
			{
				cause: error,
			},
		);
	}
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
	const pickOutput = (results: Record<string, Ort.OnnxValue>) => {
		const output = results[outputName];
		if (!output || !(output.data instanceof Float32Array)) {
			throw new CoreError(
				"INFERENCE_FAILED",
				`output "${outputName}" is not a float32 tensor`,
			);
		}
		return output.data;
	};
	const run = session.run(inputName, outputName);
	const model: OnnxModel = {
		direct: binding !== undefined,
		run(batch) {
			let input: Ort.Tensor;
			try {
				input = new ort.Tensor("float32", batch.data, [
					batch.rows,
					batch.columns,
				]);
			} catch (error) {
				return Promise.reject(error);
			}
			// A promise chain rather than `await`: one microtask hop less on a path measured in microseconds.
			return run(input).then(pickOutput);
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

/** What {@link loadOnnxModel} needs of a session, native or wrapped. */
interface Session {
	inputNames: readonly string[];
	outputNames: readonly string[];
	/** A runner for one input and one output; its promise settles with the outputs by name. */
	run(
		inputName: string,
		outputName: string,
	): (input: Ort.Tensor) => Promise<Record<string, Ort.OnnxValue>>;
	release(): Promise<void>;
}

function openNative(
	binding: Binding,
	bytes: Uint8Array,
	options: Ort.InferenceSession.SessionOptions,
): Session {
	const session: NativeSession = new binding.InferenceSession();
	session.loadModel(
		bytes.buffer as ArrayBuffer,
		bytes.byteOffset,
		bytes.byteLength,
		options,
	);
	let released = false;
	return {
		inputNames: session.inputMetadata.map((m) => m.name),
		outputNames: session.outputMetadata.map((m) => m.name),
		run(inputName, outputName) {
			const fetches = { [outputName]: null };
			const runOptions = {};
			return (input) => {
				if (released)
					return Promise.reject(new Error("the session has been released"));
				try {
					// Synchronous: the run happens here, on the calling turn of the event loop.
					return Promise.resolve(
						session.run({ [inputName]: input }, fetches, runOptions),
					);
				} catch (error) {
					return Promise.reject(error);
				}
			};
		},
		async release() {
			if (released) return;
			released = true;
			session.dispose();
		},
	};
}

async function openWrapped(
	ort: typeof Ort,
	bytes: Uint8Array,
	options: Ort.InferenceSession.SessionOptions,
): Promise<Session> {
	const session = await ort.InferenceSession.create(bytes, options);
	return {
		inputNames: session.inputNames,
		outputNames: session.outputNames,
		run(inputName, outputName) {
			const fetches = [outputName];
			return (input) => session.run({ [inputName]: input }, fetches);
		},
		release: () => session.release(),
	};
}
