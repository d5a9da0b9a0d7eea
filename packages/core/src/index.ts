/**
 * @module @mdp/core
 * The shared ML system that every deployment pattern serves: a verified model bundle, a pure feature
 * extractor, an ONNX model behind a one-method interface, the predictor that ties them together, and the
 * model host that swaps models at run time.
 *
 * @example
 * import { loadPredictor, referenceBundleDir } from "@mdp/core";
 * const predictor = await loadPredictor(referenceBundleDir);
 * const [prediction] = await predictor.predict([
 *   { Island: "Biscoe", "Beak Length (mm)": 47.3, "Beak Depth (mm)": 13.8, "Flipper Length (mm)": 216, "Body Mass (g)": 4725, Sex: "FEMALE" },
 * ]);
 * prediction.label; // "Gentoo"
 */

// ---- Errors ----
export { CoreError, isCoreError, toCoreError } from "./errors.ts";
export type { CoreErrorCode, CoreErrorOptions, FieldIssue } from "./errors.ts";

// ---- Model bundle ----
export {
	bundleManifestSchema,
	parseBundleManifest,
} from "./bundle-manifest.ts";
export type {
	BundleManifest,
	BundleManifestInput,
	CategoricalFeatureSpec,
	FeatureSpec,
	NumericFeatureSpec,
} from "./bundle-manifest.ts";
export {
	loadBundle,
	parseManifestText,
	readManifestName,
	readServedModel,
	sha256Hex,
} from "./load-bundle.ts";
export type { ModelBundle } from "./load-bundle.ts";
export { writeBundle } from "./write-bundle.ts";
export type { WriteBundleInput } from "./write-bundle.ts";
export { referenceBundleDir } from "./reference-bundle.ts";

// ---- Features, model, predictor (pure except the model loader) ----
export { createFeatureExtractor, extractFeatures } from "./extract-features.ts";
export type { FeatureBatch, FeatureExtractor } from "./extract-features.ts";
export { loadOnnxModel, loadOnnxRuntime } from "./load-onnx-model.ts";
export type { LoadOnnxModelOptions, Model } from "./load-onnx-model.ts";
export { createPredictor, toPredictions } from "./predictor.ts";
export type {
	CreatePredictorOptions,
	Prediction,
	Predictor,
	PredictTimings,
} from "./predictor.ts";
export {
	createBundlePredictor,
	loadBundleModel,
	loadPredictor,
} from "./load-predictor.ts";
export type { BundleContents, LoadPredictorOptions } from "./load-predictor.ts";
export { predictJsonLines } from "./predict-json-lines.ts";
export type {
	PredictJsonLinesOptions,
	PredictJsonLinesResult,
} from "./predict-json-lines.ts";

// ---- Serving: model host and adaptive batching ----
export { createBatchingPredictor } from "./batching-predictor.ts";
export type { BatchingOptions } from "./batching-predictor.ts";
export { ModelHost } from "./model-host.ts";
export type {
	HostedModel,
	LoadModelOptions,
	ModelHostListener,
	ModelHostOptions,
} from "./model-host.ts";

// ---- Command-line edge, and files of the package itself ----
export { moduleFile } from "./module-file.ts";
export { runCli, stopSignal } from "./run-cli.ts";
export { toLimitArgs } from "./serve-args.ts";

// ---- What deployment packages produce and return ----
export type { Artifact } from "./artifact.ts";
export type { Deployment, DeploymentUnit, ModelUpdate } from "./deployment.ts";

// ---- Golden set (parity checks) ----
export { compareToGolden, readGoldenSet } from "./golden.ts";
export type { GoldenCase, GoldenMismatch } from "./golden.ts";
