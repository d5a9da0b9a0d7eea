/**
 * @module @mdp/core/build
 * Build-time tools shared by every pattern that ships the model to run on Node: `buildServer` bundles an
 * entry (the serving runtime by default) into one ES module with esbuild, and `installOnnxRuntime` puts
 * onnxruntime-node beside it pruned to one platform. A subpath of its own so that only build steps load
 * esbuild.
 *
 * @example
 * import { buildServer } from "@mdp/core/build";
 * const server = await buildServer({ out: "dist/server", bundle: "models/penguins" });
 * // node dist/server/mdp-serve.mjs --port 8080   (serves dist/server/model)
 */

export { buildServer, folderBytes } from "./build-server.ts";
export type { BuildServerOptions } from "./build-server.ts";
export {
	installOnnxRuntime,
	locateOnnxRuntime,
} from "./install-onnx-runtime.ts";
export type {
	InstalledRuntime,
	OnnxRuntimeLocation,
	RuntimePlatform,
} from "./install-onnx-runtime.ts";
