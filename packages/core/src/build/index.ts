/**
 * @module @mdp/core/build
 * Build-time tools shared by the patterns that ship the HTTP server: `buildServer` bundles `mdp-core`
 * (with `serve`) into one ES module. A subpath of its own so that only build steps load esbuild.
 *
 * @example
 * import { buildServer } from "@mdp/core/build";
 * const artifact = await buildServer({ out: "dist/server" }); // node dist/server/mdp-core.mjs serve --bundle DIR
 */

export { buildServer } from "./build-server.ts";
export type { BuildServerOptions } from "./build-server.ts";
