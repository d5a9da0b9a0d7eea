import { loadBundle, type ModelBundle } from "./load-bundle.ts";
import {
	type LoadOnnxModelOptions,
	loadOnnxModel,
	type Model,
} from "./load-onnx-model.ts";
import { createPredictor, type Predictor } from "./predictor.ts";

/** Options of {@link loadPredictor}. */
export type LoadPredictorOptions = Pick<
	LoadOnnxModelOptions,
	"intraOpNumThreads" | "interOpNumThreads" | "warmUp" | "direct"
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
	return createBundlePredictor(await loadBundle(dir), options);
}

/** A bundle already in memory: its manifest and the model bytes it vouches for. */
export type BundleContents = Pick<ModelBundle, "manifest" | "modelBytes">;

/** Creates the ONNX session of a bundle's model with the input, output and width its manifest declares. */
export function loadBundleModel(
	bundle: BundleContents,
	options: LoadPredictorOptions = {},
): Promise<Model> {
	const { manifest, modelBytes } = bundle;
	return loadOnnxModel(modelBytes, {
		...options,
		inputName: manifest.model.input.name,
		outputName: manifest.model.output.name,
		columns: manifest.model.input.columns,
	});
}

/** Creates the predictor of a bundle in memory (its session warmed up). */
export async function createBundlePredictor(
	bundle: BundleContents,
	options: LoadPredictorOptions = {},
): Promise<Predictor> {
	return createPredictor({
		manifest: bundle.manifest,
		model: await loadBundleModel(bundle, options),
	});
}
