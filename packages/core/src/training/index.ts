/**
 * @module @mdp/core/training
 * Training of the reference penguins model and synthetic bundles of a chosen size. A subpath of its own
 * so that serving code never loads the ONNX protobuf schema or the training data.
 *
 * @example
 * import { trainPenguins } from "@mdp/core/training";
 * const { testAccuracy } = await trainPenguins({ out: "models/penguins" });
 */

export type { ToOnnxOptions } from "./export-onnx.ts";
export { toOnnxBytes } from "./export-onnx.ts";
export type { DenseLayer, Mlp, TrainMlpOptions } from "./mlp.ts";
export { createRandomMlp, trainMlp } from "./mlp.ts";
export type { Random } from "./random.ts";
export { createRandom, shuffledIndices } from "./random.ts";
export type { SynthesizeBundleOptions } from "./synthesize-bundle.ts";
export { parseSize, synthesizeBundle } from "./synthesize-bundle.ts";
export type {
	TrainPenguinsOptions,
	TrainPenguinsResult,
} from "./train-penguins.ts";
export {
	readPenguinsData,
	splitPenguins,
	trainPenguins,
} from "./train-penguins.ts";
