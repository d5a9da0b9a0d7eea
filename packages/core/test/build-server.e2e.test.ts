import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildServer, installOnnxRuntime } from "../src/build/index.ts";
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
	// Outside the repository: no node_modules above it to resolve anything from.
	dir = await mkdtemp(join(tmpdir(), "mdp-build-server-"));
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function listFiles(root: string): Promise<string[]> {
	const entries = await readdir(root, { recursive: true, withFileTypes: true });
	return entries
		.filter((e) => e.isFile())
		.map((e) => join(e.parentPath, e.name).slice(root.length + 1))
		.sort();
}

describe("installOnnxRuntime", () => {
	it("installs onnxruntime-node for linux-x64 only: no other platform, no install script", async () => {
		const target = join(dir, "runtime");
		const runtime = await installOnnxRuntime(target);
		const files = await listFiles(join(target, "node_modules"));
		const native = files.filter((f) => f.includes("/bin/"));
		expect(native).toEqual([
			"onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1",
			"onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node",
		]);
		expect(
			files.every(
				(f) =>
					f.startsWith("onnxruntime-node/") ||
					f.startsWith("onnxruntime-common/"),
			),
		).toBe(true);
		const manifest = JSON.parse(
			await readFile(
				join(target, "node_modules/onnxruntime-node/package.json"),
				"utf8",
			),
		);
		expect(manifest.scripts).toBeUndefined();
		let bytes = 0;
		for (const f of files)
			bytes += (await stat(join(target, "node_modules", f))).size;
		expect(runtime.bytes).toBe(bytes);
	});

	it("refuses a platform onnxruntime-node has no binding for, naming it", async () => {
		await expect(
			installOnnxRuntime(join(dir, "nope"), { os: "aix", arch: "ppc64" }),
		).rejects.toThrow(/no binding for aix-ppc64/);
		expect(
			existsSync(join(dir, "nope", "node_modules", "onnxruntime-node", "bin")),
		).toBe(false);
	});
});

describe("buildServer", () => {
	it("builds a server that serves its own copy of the model exactly, with nothing but the pruned runtime beside it", async () => {
		const out = join(dir, "server");
		const artifact = await buildServer({ out, bundle: referenceBundleDir });
		expect(artifact).toMatchObject({ kind: "server-bundle", path: out });
		const files = await listFiles(out);
		expect(
			files.filter(
				(f) =>
					!f.startsWith("node_modules/onnxruntime-") && !f.startsWith("model/"),
			),
		).toEqual(["mdp-serve.mjs", "package.json"]);
		// The serving runtime only: no training code, zod/mini rather than zod's classic API.
		expect(artifact.parts?.["mdp-serve.mjs"]).toBeLessThanOrEqual(600 * 1024);
		const pkg = JSON.parse(await readFile(join(out, "package.json"), "utf8"));
		expect(Object.keys(pkg.dependencies)).toEqual(["onnxruntime-node"]);
		const source = await readFile(join(out, "mdp-serve.mjs"), "utf8");
		// One module: no relative imports, no training or ONNX-writing code.
		expect(source).not.toMatch(/from ["']\.\.?\//);
		expect(source).not.toMatch(/onnx-proto|vega-datasets/);
		// No --bundle: it serves <out>/model, wherever it was built.
		const server = await startServeProcess({
			entry: join(out, "mdp-serve.mjs"),
		});
		try {
			const res = await fetch(`${server.url}/predict`, {
				method: "POST",
				body: JSON.stringify({ records: golden.map((g) => g.record) }),
			});
			expect(res.status).toBe(200);
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

	it("leaves nothing behind when the build fails", async () => {
		const out = join(dir, "broken");
		await expect(
			buildServer({ out, entry: join(dir, "no-such-entry.ts") }),
		).rejects.toThrow();
		expect((await readdir(dir)).filter((f) => f.includes("broken"))).toEqual(
			[],
		);
	});
});
