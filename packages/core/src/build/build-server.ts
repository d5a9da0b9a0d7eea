import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { Artifact } from "../artifact.ts";

/** Options of {@link buildServer}. */
export interface BuildServerOptions {
	/** Output folder (replaced whole): `mdp-core.mjs` and `package.json`. */
	out: string;
}

const CLI = fileURLToPath(new URL("../cli.ts", import.meta.url));

/**
 * Bundles the `mdp-core` command (and so `mdp-core serve`, the HTTP app) into one ES module with esbuild,
 * the deployable form of the server: no TypeScript, no workspace, one file plus `onnxruntime-node`, a
 * native addon that stays outside (its `package.json` is written beside the bundle: install it with
 * `ONNXRUNTIME_NODE_INSTALL=skip npm install`). Starting it skips tsx's transpiling, which is most of
 * `mdp-core serve`'s start-up from source. Shared by the patterns that ship a server (vm, container).
 */
export async function buildServer(
	options: BuildServerOptions,
): Promise<Artifact> {
	const out = resolve(options.out);
	const staging = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
	const ortVersion = (
		JSON.parse(
			await readFile(
				join(
					dirname(createRequire(import.meta.url).resolve("onnxruntime-node")),
					"..",
					"package.json",
				),
				"utf8",
			),
		) as {
			version: string;
		}
	).version;
	await mkdir(dirname(out), { recursive: true });
	await rm(staging, { recursive: true, force: true });
	try {
		await build({
			entryPoints: [CLI],
			bundle: true,
			format: "esm",
			platform: "node",
			target: "node20",
			outfile: join(staging, "mdp-core.mjs"),
			external: ["onnxruntime-node"],
			// CommonJS dependencies (prom-client) call require(); give the ES module one.
			banner: {
				js: "import { createRequire as __mdpCreateRequire } from 'node:module'; const require = __mdpCreateRequire(import.meta.url);",
			},
			legalComments: "none",
			logLevel: "silent",
		});
		await writeFile(
			join(staging, "package.json"),
			`${JSON.stringify({ name: "mdp-server", private: true, type: "module", bin: { "mdp-core": "mdp-core.mjs" }, dependencies: { "onnxruntime-node": ortVersion } }, null, 2)}\n`,
		);
		await rm(out, { recursive: true, force: true });
		await rename(staging, out);
	} catch (error) {
		await rm(staging, { recursive: true, force: true });
		throw error;
	}
	const parts = {
		"mdp-core.mjs": (await stat(join(out, "mdp-core.mjs"))).size,
	};
	return {
		kind: "server-bundle",
		path: out,
		bytes: parts["mdp-core.mjs"],
		parts,
	};
}
