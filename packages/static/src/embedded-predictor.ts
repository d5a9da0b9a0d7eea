import {
	CoreError,
	createBundlePredictor,
	type LoadPredictorOptions,
	type Predictor,
	parseBundleManifest,
	sha256Hex,
} from "@mdp/core";

/** A model bundle carried inside code: its manifest as a JSON value and `model.onnx` as base64. */
export interface EmbeddedBundle {
	manifest: unknown;
	modelBase64: string;
}

/** Creates a predictor from an embedded bundle, checking the manifest and the model's hash first. */
export async function createPredictorFromEmbedded(
	bundle: EmbeddedBundle,
	options: LoadPredictorOptions = {},
): Promise<Predictor> {
	const manifest = parseBundleManifest(bundle.manifest);
	const bytes = Buffer.from(bundle.modelBase64, "base64");
	const actual = sha256Hex(bytes);
	if (actual !== manifest.model.sha256) {
		throw new CoreError(
			"INVALID_BUNDLE",
			`embedded model.onnx has sha256 ${actual}, the manifest says ${manifest.model.sha256}`,
		);
	}
	return createBundlePredictor({ manifest, modelBytes: bytes }, options);
}
