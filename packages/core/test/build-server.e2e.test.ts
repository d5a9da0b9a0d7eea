import { mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildServer } from "../src/build/index.ts";
import { startServeProcess } from "../src/http/index.ts";
import {
	compareToGolden,
	type GoldenCase,
	readGoldenSet,
	referenceBundleDir,
} from "../src/index.ts";

let dir: string;
let golden: GoldenCase[];
beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), "mdp-build-server-"));
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("buildServer", () => {
	it("bundles mdp-core into one module that serves the golden set exactly, with only onnxruntime-node beside it", async () => {
		const out = join(dir, "server");
		const artifact = await buildServer({ out });
		expect(artifact).toMatchObject({ kind: "server-bundle", path: out });
		const pkg = JSON.parse(await readFile(join(out, "package.json"), "utf8"));
		expect(Object.keys(pkg.dependencies)).toEqual(["onnxruntime-node"]);
		const source = await readFile(join(out, "mdp-core.mjs"), "utf8");
		expect(source).not.toMatch(/from ["']\.\.?\//);
		// What `npm install` of that package.json provides: onnxruntime-node.
		await symlink(
			join(import.meta.dirname, "..", "node_modules"),
			join(out, "node_modules"),
		);
		const server = await startServeProcess({
			cli: join(out, "mdp-core.mjs"),
			args: ["--bundle", referenceBundleDir],
		});
		try {
			const res = await fetch(`${server.url}/predict`, {
				method: "POST",
				body: JSON.stringify({ records: golden.map((g) => g.record) }),
			});
			expect(
				compareToGolden(
					golden,
					((await res.json()) as { predictions: never[] }).predictions,
				),
			).toEqual([]);
		} finally {
			expect(await server.stop()).toBe(0);
		}
	});
});
