import { mkdir, mkdtemp, readFile, rm, stat, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import {
	compareToGolden,
	type Prediction,
	readGoldenSet,
	referenceBundleDir,
} from "@mdp/core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { installedPackage } from "../src/installed-package.ts";
import { SIZE_LIMITS } from "../src/limits.ts";
import {
	type FunctionPackage,
	packageFunction,
} from "../src/package-function.ts";
import { extractZip, readZipEntries } from "../src/zip.ts";

const golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
const event = JSON.parse(
	await readFile(
		new URL("./fixtures/function-url-predict.json", import.meta.url),
		"utf8",
	),
) as { body: string; requestContext: { http: { method: string } } };

let work: string;
const built: Partial<Record<"aws" | "gcp" | "azure", FunctionPackage>> = {};

beforeAll(async () => {
	work = await mkdtemp(join(tmpdir(), "mdp-serverless-packages-"));
	// The gcp zip comes from the global setup (built with packageFunction too).
	built.gcp = {
		kind: "zip",
		provider: "gcp",
		path: inject("gcpZip"),
	} as FunctionPackage;
	for (const provider of ["aws", "azure"] as const)
		built[provider] = await packageFunction({
			bundle: referenceBundleDir,
			provider,
			out: join(work, `${provider}.zip`),
		});
}, 120_000);
afterAll(async () => {
	await rm(work, { recursive: true, force: true });
});

/** Unzips a package into a fresh folder, as the provider unpacks it. */
async function unzip(pkg: FunctionPackage, name: string): Promise<string> {
	const dir = join(work, name);
	await extractZip(await readFile(pkg.path), dir, pkg.path);
	return dir;
}

/** Links a provider runtime library into an unzipped package, as the provider's build installs it. */
async function provide(dir: string, name: string): Promise<void> {
	const target = join(dir, "node_modules", name);
	await mkdir(dirname(target), { recursive: true });
	await symlink(installedPackage(name).dir, target, "dir");
}

describe("aws package", () => {
	it("is a Lambda Node.js zip: index.mjs, the model, onnxruntime-node for linux-x64 only, within the limits", async () => {
		const pkg = built.aws as FunctionPackage;
		const names = readZipEntries(await readFile(pkg.path)).map((e) => e.name);
		expect(names).toContain("index.mjs");
		expect(names).toContain("model/mdp.json");
		expect(names).toContain("model/model.onnx");
		expect(names.filter((n) => n.endsWith("libonnxruntime.so.1"))).toEqual([
			"node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1",
		]);
		expect(names.some((n) => /darwin|win32|arm64/.test(n))).toBe(false);
		expect(pkg.compressedBytes).toBeLessThan(
			SIZE_LIMITS.aws.compressedBytes as number,
		);
		expect(pkg.uncompressedBytes).toBeLessThan(
			SIZE_LIMITS.aws.uncompressedBytes as number,
		);
		expect(pkg.breakdown[0]?.part).toBe("node_modules/onnxruntime-node/");
		// Also a core Artifact for the harness: the zip's size and the unzipped parts.
		expect([pkg.kind, pkg.bytes]).toEqual(["zip", (await stat(pkg.path)).size]);
		expect(pkg.parts?.["model/"]).toBeGreaterThan(0);
		expect(pkg.breakdown.reduce((s, b) => s + b.bytes, 0)).toBe(
			pkg.uncompressedBytes,
		);
	});

	it("is deterministic: packaging the same bundle again, into another folder, gives the same bytes", async () => {
		const again = await packageFunction({
			bundle: referenceBundleDir,
			provider: "aws",
			out: join(work, "again", "aws.zip"),
		});
		expect(again.sha256).toBe(built.aws?.sha256);
		expect(
			(await readFile(again.path)).equals(
				await readFile(built.aws?.path as string),
			),
		).toBe(true);
	});

	it("answers a hand-written function URL event with the golden predictions, invoked straight from the unzipped package", async () => {
		const dir = await unzip(built.aws as FunctionPackage, "aws-task");
		const { handler } = (await import(
			pathToFileURL(join(dir, "index.mjs")).href
		)) as {
			handler: (
				event: unknown,
				context: unknown,
			) => Promise<{
				statusCode: number;
				headers: Record<string, string>;
				body: string;
			}>;
		};
		const result = await handler(event, {
			awsRequestId: event.requestContext.http.method,
		});
		expect(result.statusCode).toBe(200);
		expect(result.headers["content-type"]).toMatch(/application\/json/);
		const body = JSON.parse(result.body) as { predictions: Prediction[] };
		expect(compareToGolden(golden.slice(0, 3), body.predictions)).toEqual([]);
		const bad = await handler(
			{ ...event, body: '{"records":[{"Island":"Atlantis-404"}]}' },
			{},
		);
		expect(bad.statusCode).toBe(400);
		expect(JSON.parse(bad.body).error).toMatch(/Atlantis-404|Beak|field/);
	});
});

describe("gcp package", () => {
	it("is a Cloud Run functions source zip whose function is registered by name with functions-framework", async () => {
		const pkg = built.gcp as FunctionPackage;
		const dir = await unzip(pkg, "gcp-source");
		const manifest = JSON.parse(
			await readFile(join(dir, "package.json"), "utf8"),
		);
		expect(manifest).toMatchObject({
			main: "index.mjs",
			type: "module",
			scripts: { start: "functions-framework --target=predict" },
			dependencies: {
				"@google-cloud/functions-framework": installedPackage(
					"@google-cloud/functions-framework",
				).version,
			},
		});
		await provide(dir, "@google-cloud/functions-framework");
		await import(pathToFileURL(join(dir, "index.mjs")).href);
		const { getFunction } = await import(
			"@google-cloud/functions-framework/testing"
		);
		expect(typeof getFunction("predict")).toBe("function");
	});
});

describe("azure package", () => {
	it("is a Functions v4 app zip: host.json, package.json main and @azure/functions listed", async () => {
		const dir = await unzip(built.azure as FunctionPackage, "azure-app");
		expect(
			JSON.parse(await readFile(join(dir, "host.json"), "utf8")),
		).toMatchObject({
			version: "2.0",
			extensions: { http: { routePrefix: "" } },
		});
		const manifest = JSON.parse(
			await readFile(join(dir, "package.json"), "utf8"),
		);
		expect(manifest.main).toBe("index.mjs");
		expect(manifest.dependencies["@azure/functions"]).toMatch(/^4\./);
	});

	it("serves golden predictions through its handler, called in-process with @azure/functions' own request and context", async () => {
		const dir = await unzip(built.azure as FunctionPackage, "azure-run");
		await provide(dir, "@azure/functions");
		const { predict } = (await import(
			pathToFileURL(join(dir, "index.mjs")).href
		)) as {
			predict: (
				request: unknown,
				context: unknown,
			) => Promise<{
				status: number;
				headers: Record<string, string>;
				body: Uint8Array;
			}>;
		};
		const { HttpRequest, InvocationContext } = await import("@azure/functions");
		const response = await predict(
			new HttpRequest({
				method: "POST",
				url: "http://localhost:7071/predict",
				headers: { "content-type": "application/json" },
				body: { string: event.body },
			}),
			new InvocationContext({
				functionName: "predict",
				invocationId: "test-1",
			}),
		);
		expect(response.status).toBe(200);
		const body = JSON.parse(Buffer.from(response.body).toString()) as {
			predictions: Prediction[];
		};
		expect(compareToGolden(golden.slice(0, 3), body.predictions)).toEqual([]);
	});
});
