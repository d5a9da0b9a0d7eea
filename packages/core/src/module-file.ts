import { fileURLToPath } from "node:url";

/**
 * The path of a sibling module, with the extension of the module asking: `.ts` in the workspace (sources
 * run through tsx), `.js` in the published package (built to `dist/`). Builders use it to hand esbuild an
 * entry that exists in both layouts.
 *
 * @example
 * const entry = moduleFile(import.meta.url, "../cli-mdp-serve"); // …/src/cli-mdp-serve.ts or …/dist/cli-mdp-serve.js
 */
export function moduleFile(base: string, relative: string): string {
	const extension = new URL(base).pathname.endsWith(".ts") ? ".ts" : ".js";
	return fileURLToPath(new URL(`${relative}${extension}`, base));
}
