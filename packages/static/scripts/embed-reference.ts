// Regenerates src/generated/penguins.ts from @mdp/core's reference bundle (`pnpm -F @mdp/static embed`).
// A test fails when the generated file and the bundle disagree.
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { loadBundle, referenceBundleDir } from "@mdp/core";
import { toEmbeddedSource } from "../src/embedded-source.ts";

const { manifest, modelBytes } = await loadBundle(referenceBundleDir);
const out = fileURLToPath(
	new URL("../src/generated/penguins.ts", import.meta.url),
);
await writeFile(out, toEmbeddedSource("penguins", manifest, modelBytes));
console.log(`wrote ${out}`);
