/** A deployable thing a pattern's `build()` produced: a file or folder, with what people compare. */
export interface Artifact {
	/** What it is: `module`, `executable`, `web-page`, `image`, `zip`, … */
	kind: string;
	/** Where it was written. */
	path: string;
	/** Size on disk (a folder: all its files). */
	bytes: number;
	/** Sizes of the parts worth naming (`node`, `libonnxruntime.so.1`, `model.onnx`, …). */
	parts?: Record<string, number>;
}
