import { fileURLToPath } from "node:url";

/** Folder of the reference model bundle shipped with `@mdp/core`: the Palmer penguins species classifier. */
export const referenceBundleDir: string = fileURLToPath(
	new URL("../models/penguins", import.meta.url),
);
