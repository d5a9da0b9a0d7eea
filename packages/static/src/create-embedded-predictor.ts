import type { LoadPredictorOptions, Predictor } from "@mdp/core";
import { createPredictorFromEmbedded } from "./embedded-predictor.ts";
import { penguins } from "./generated/penguins.ts";

/**
 * The reference penguins model, packaged inside this package: no path, no server, no network. The model
 * bytes are part of the code; the predictor runs in this process.
 *
 * @example
 * const predictor = await createEmbeddedPredictor();
 * const [p] = await predictor.predict([{ Island: "Dream", "Beak Length (mm)": 46.5, … }]);
 */
export function createEmbeddedPredictor(
	options: LoadPredictorOptions = {},
): Promise<Predictor> {
	return createPredictorFromEmbedded(penguins, options);
}
