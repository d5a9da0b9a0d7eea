import { loadBundle } from "./load-bundle.ts";
import { type LoadOnnxModelOptions, loadOnnxModel } from "./load-onnx-model.ts";
import { createPredictor, type Predictor } from "./predictor.ts";

/** Options of {@link loadPredictor}. */
export type LoadPredictorOptions = Pick<
	LoadOnnxModelOptions,
	"intraOpNumThreads" | "interOpNumThreads" | "warmUp"
>;

/**
 * Loads a bundle folder, verifies it, creates its ONNX session (warmed up) and returns the predictor.
 *
 * @example
 * const predictor = await loadPredictor("packages/core/models/penguins");
 * const [p] = await predictor.predict([{ Island: "Biscoe", "Beak Length (mm)": 47.3, ... }]);
 */
export async function loadPredictor(
	dir: string,
	options: LoadPredictorOptions = {},
): Promise<Predictor> {
	const { manifest, modelBytes } = await loadBundle(dir);
	const model = await loadOnnxModel(modelBytes, {
		...options,
		inputName: manifest.model.input.name,
		outputName: manifest.model.output.name,
		columns: manifest.model.input.columns,
	});
	return createPredictor({ manifest, model });
}
