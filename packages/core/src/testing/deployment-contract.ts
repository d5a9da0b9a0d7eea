import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Deployment } from "../deployment.ts";
import { compareToGolden, type GoldenCase } from "../golden.ts";
import { toInferRequest } from "../http/oip.ts";
import { loadBundle, parseManifestText } from "../load-bundle.ts";
import type { Prediction } from "../predictor.ts";
import { referenceBundleDir } from "../reference-bundle.ts";
import { writeBundle } from "../write-bundle.ts";
import { describeHardeningContract } from "./hardening-contract.ts";

/** Options of {@link describeDeploymentContract}. */
export interface DeploymentContractOptions {
	/**
	 * The bundle the deployment serves (default: the reference model). Its labels, features and
	 * `golden.jsonl` are what the suite checks predictions against.
	 */
	bundle?: string;
	/**
	 * Also run the hardening cases (deep nesting, output names that are object built-ins, float32 overflow,
	 * a version without a model, aborted and slow bodies) against the same deployment. They use the
	 * reference model's fields: default true when the bundle is the reference model.
	 */
	hardening?: boolean;
}

/** Writes a copy of `dir` as a new version (same weights, manifest re-hashed): what a retrain would ship. */
async function newVersionOf(dir: string, out: string): Promise<string> {
	const { manifest, modelBytes } = await loadBundle(dir);
	const version = `${manifest.version}-contract.${Date.now()}`;
	await writeBundle(out, {
		manifest: { ...manifest, version },
		modelBytes,
		extraFiles: {
			"golden.jsonl": await readFile(join(dir, "golden.jsonl"), "utf8"),
		},
	});
	return version;
}

interface InferOutput {
	name: string;
	data: (string | number)[];
}

/** Reads an OIP response back into predictions, for comparison with the golden set. */
export function fromInferResponse(
	body: { outputs: InferOutput[] },
	labels: readonly string[],
): Prediction[] {
	const label = body.outputs.find((o) => o.name === "label");
	const probabilities = body.outputs.find((o) => o.name === "probabilities");
	return (label?.data ?? []).map((l, i) => ({
		label: String(l),
		probabilities: Object.fromEntries(
			labels.map((name, j) => [
				name,
				probabilities?.data[i * labels.length + j] as number,
			]),
		),
	}));
}

/**
 * The contract every deployment of a model must meet, whatever the pattern: health, metadata, golden
 * predictions over `/predict` and OIP infer, every class of bad input, 100 parallel requests, and, when
 * the deployment can `updateModel`, a model update under load with zero failed requests. Each pattern runs
 * it against its own {@link Deployment}; labels, features and the golden set come from the bundle served.
 *
 * @example
 * describeDeploymentContract("vm: 2 instances", () => start({ bundle: referenceBundleDir, replicas: 2 }));
 */
export function describeDeploymentContract(
	name: string,
	setup: () => Promise<Deployment>,
	options: DeploymentContractOptions = {},
): void {
	const bundleDir = options.bundle ?? referenceBundleDir;
	const manifest = parseManifestText(
		readFileSync(join(bundleDir, "mdp.json"), "utf8"),
		join(bundleDir, "mdp.json"),
	);
	const { features } = manifest;
	const labels = manifest.target.labels;
	const model = manifest.name;
	const golden: GoldenCase[] = readFileSync(
		join(bundleDir, "golden.jsonl"),
		"utf8",
	)
		.trim()
		.split("\n")
		.map((line) => JSON.parse(line));
	describe(`deployment contract: ${name}`, () => {
		let deployment: Deployment;
		const call = (path: string, init?: RequestInit) =>
			fetch(new URL(path, deployment.url), init);
		const post = (path: string, body: unknown) =>
			call(path, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: typeof body === "string" ? body : JSON.stringify(body),
			});

		beforeAll(async () => {
			deployment = await setup();
		}, 180_000);
		afterAll(async () => {
			await deployment?.stop();
		}, 60_000);

		if (options.hardening ?? bundleDir === referenceBundleDir) {
			// The same deployment: its beforeAll has run when this nested suite's runs.
			describeHardeningContract(name, async () => ({
				url: deployment.url,
				limits: deployment.limits,
				stop: async () => {},
			}));
		}

		it("is live and ready", async () => {
			const live = await call("/v2/health/live");
			expect([live.status, await live.json()]).toEqual([200, { live: true }]);
			const ready = await call("/v2/health/ready");
			expect([ready.status, await ready.json()]).toEqual([
				200,
				{ ready: true },
			]);
			expect((await call(`/v2/models/${model}/ready`)).status).toBe(200);
		});

		it("serves server and model metadata", async () => {
			expect(await (await call("/v2")).json()).toMatchObject({
				name: expect.any(String),
				version: expect.any(String),
			});
			const meta = (await (await call(`/v2/models/${model}`)).json()) as {
				platform: string;
				inputs: unknown[];
				outputs: unknown[];
			};
			expect(meta.platform).toBe("onnx_onnxv1");
			expect(meta.inputs).toHaveLength(features.length);
			expect(meta.outputs).toContainEqual({
				name: "probabilities",
				datatype: "FP32",
				shape: [-1, labels.length],
			});
		});

		it("reproduces the golden set exactly over POST /predict", async () => {
			const res = await post("/predict", {
				records: golden.map((g) => g.record),
			});
			expect(res.status).toBe(200);
			const body = (await res.json()) as { predictions: Prediction[] };
			expect(compareToGolden(golden, body.predictions)).toEqual([]);
		});

		it("reproduces the golden set exactly over OIP infer, echoing the id", async () => {
			const res = await post(
				`/v2/models/${model}/infer`,
				toInferRequest(
					golden.map((g) => g.record),
					features,
					"contract-1",
				),
			);
			expect(res.status).toBe(200);
			const body = (await res.json()) as {
				id: string;
				model_name: string;
				outputs: InferOutput[];
			};
			expect([body.id, body.model_name]).toEqual(["contract-1", model]);
			expect(compareToGolden(golden, fromInferResponse(body, labels))).toEqual(
				[],
			);
		});

		describe("refuses bad input with a 4xx and a JSON error", () => {
			const record = golden[0]?.record ?? {};
			const required = features.find(
				(f) => f.missing.strategy === "error",
			)?.name;
			const categorical = features.find((f) => f.kind === "categorical")?.name;
			const cases: (readonly [
				string,
				string,
				() => unknown,
				number,
				RegExp,
			])[] = [
				[
					"malformed JSON",
					"/predict",
					() => '{"records": [',
					400,
					/not valid JSON/,
				],
				...(required
					? ([
							[
								"a missing feature",
								"/predict",
								() => ({ records: [{ ...record, [required]: undefined }] }),
								400,
								new RegExp(`field "${escapeRegExp(required)}"`),
							],
						] as const)
					: []),
				...(categorical
					? ([
							[
								"an unknown category",
								"/predict",
								() => ({
									records: [{ ...record, [categorical]: "Atlantis-404" }],
								}),
								400,
								/unknown category string "Atlantis-404"/,
							],
							[
								"a wrong datatype",
								`/v2/models/${model}/infer`,
								() => ({
									inputs: [
										{
											name: categorical,
											shape: [1],
											datatype: "FP32",
											data: [3],
										},
									],
								}),
								400,
								/expected BYTES/,
							],
						] as const)
					: []),
				[
					"an oversized body",
					"/predict",
					() => ({
						records: [
							{
								...record,
								padding: "x".repeat(
									(deployment.limits?.maxBodyBytes ?? 1024 * 1024) + 1,
								),
							},
						],
					}),
					413,
					/exceeds the limit/,
				],
				[
					"too many records",
					"/predict",
					() => ({
						records: Array.from(
							{ length: (deployment.limits?.maxRecords ?? 1000) + 1 },
							() => record,
						),
					}),
					413,
					/the limit is/,
				],
			];
			it.each(cases)("%s", async (_name, path, body, status, message) => {
				const res = await post(path, body());
				expect(res.status).toBe(status);
				expect(res.headers.get("content-type")).toMatch(/application\/json/);
				expect(((await res.json()) as { error: string }).error).toMatch(
					message,
				);
			});
		});

		it("accepts exactly the record limit and refuses one record more", async () => {
			const limit = deployment.limits?.maxRecords ?? 1000;
			const records = (n: number) =>
				Array.from(
					{ length: n },
					(_, i) => (golden[i % golden.length] as GoldenCase).record,
				);
			const atLimit = await post("/predict", { records: records(limit) });
			expect(atLimit.status).toBe(200);
			expect(
				((await atLimit.json()) as { predictions: unknown[] }).predictions,
			).toHaveLength(limit);
			const over = await post("/predict", { records: records(limit + 1) });
			expect(over.status).toBe(413);
			await over.arrayBuffer();
		});

		it("accepts a body of exactly the byte limit and refuses one byte more", async () => {
			const limit = deployment.limits?.maxBodyBytes ?? 1024 * 1024;
			const json = JSON.stringify({ records: [golden[0]?.record] });
			// JSON allows trailing white space: pad a valid request to an exact size.
			const sized = (bytes: number) =>
				json + " ".repeat(bytes - Buffer.byteLength(json));
			const atLimit = await post("/predict", sized(limit));
			expect(atLimit.status).toBe(200);
			await atLimit.arrayBuffer();
			const over = await post("/predict", sized(limit + 1));
			expect(over.status).toBe(413);
			await over.arrayBuffer();
		});

		it("answers 100 parallel requests, all correctly", async () => {
			const cases = Array.from(
				{ length: 100 },
				(_, i) => golden[i % golden.length] as GoldenCase,
			);
			const responses = await Promise.all(
				cases.map((g) => post("/predict", { records: [g.record] })),
			);
			expect(responses.map((r) => r.status)).toEqual(cases.map(() => 200));
			const predictions = await Promise.all(
				responses.map(
					async (r) =>
						((await r.json()) as { predictions: Prediction[] }).predictions[0],
				),
			);
			expect(compareToGolden(cases, predictions)).toEqual([]);
		});

		it("updates the model under load without failing a single request", async (context) => {
			const update = deployment.updateModel?.bind(deployment);
			if (!update) {
				context.skip();
				return;
			}
			const dir = await mkdtemp(join(tmpdir(), "mdp-contract-"));
			const next = join(dir, model);
			const version = await newVersionOf(bundleDir, next);
			let stop = false;
			const outcomes: { status: number; version?: string; ok: boolean }[] = [];
			const worker = async (w: number) => {
				for (let i = w; !stop; i += 8) {
					const g = golden[i % golden.length] as GoldenCase;
					try {
						const res = await post("/predict", { records: [g.record] });
						const body = (await res.json()) as {
							model?: { version: string };
							predictions?: Prediction[];
						};
						const correct =
							compareToGolden([g], body.predictions ?? []).length === 0;
						outcomes.push({
							status: res.status,
							version: body.model?.version,
							ok: res.status === 200 && correct,
						});
					} catch {
						outcomes.push({ status: 0, ok: false });
					}
				}
			};
			const workers = Array.from({ length: 8 }, (_, w) => worker(w));
			await new Promise((r) => setTimeout(r, 300));
			let updated: Awaited<ReturnType<typeof update>> | undefined;
			try {
				updated = await update(next);
				await new Promise((r) => setTimeout(r, 300));
			} finally {
				stop = true;
				await Promise.all(workers);
				await rm(dir, { recursive: true, force: true });
			}
			expect(updated?.to.version).toBe(version);
			const failed = outcomes.filter((o) => !o.ok);
			expect(failed).toEqual([]);
			expect(outcomes.length).toBeGreaterThan(20);
			expect(outcomes.at(-1)?.version).toBe(version);
			const after = (await (
				await post("/predict", { records: [golden[0]?.record] })
			).json()) as { model: { version: string } };
			expect(after.model.version).toBe(version);
		}, 60_000);
	});
}

function escapeRegExp(text: string): string {
	return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
