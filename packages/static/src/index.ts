/**
 * @module @mdp/static
 * The static deployment pattern: the model is a resource of the application itself. Three forms: an
 * embeddable library (the reference model inside this package, or a one-file module built for yours), a
 * single executable, and a page that predicts in the browser. No server, works offline, user data never
 * leaves the process.
 *
 * @example
 * import { createEmbeddedPredictor } from "@mdp/static";
 * const predictor = await createEmbeddedPredictor();
 * const [p] = await predictor.predict([{ Island: "Dream", "Beak Length (mm)": 46.5, "Beak Depth (mm)": 17.9, "Flipper Length (mm)": 192, "Body Mass (g)": 3500, Sex: "FEMALE" }]);
 */

// ---- Library ----
export { createEmbeddedPredictor } from "./create-embedded-predictor.ts";
export { createPredictorFromEmbedded } from "./embedded-predictor.ts";
export type { EmbeddedBundle } from "./embedded-predictor.ts";
export { buildModule } from "./build-module.ts";
/** `build({ bundle, out })`: the package's build verb (CONTRIBUTING.md, "Naming"), a one-file module for your bundle. */
export { buildModule as build } from "./build-module.ts";
export type { BuildModuleOptions } from "./build-module.ts";

// ---- Single executable ----
export { buildExecutable } from "./build-executable.ts";
export type { BuildExecutableOptions } from "./build-executable.ts";

// ---- Browser page ----
export { buildWebPage } from "./build-web.ts";
export type { BuildWebPageOptions } from "./build-web.ts";
