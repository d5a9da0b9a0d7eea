import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareToGolden, type GoldenCase } from "../golden.ts";
import { toInferRequest } from "../http/oip.ts";
import { parseManifestText } from "../load-bundle.ts";
import type { Prediction } from "../predictor.ts";
import { referenceBundleDir } from "../reference-bundle.ts";

/** A running deployment of the reference model, as the contract suite sees it. */
export interface ContractDeployment {
	/** Base URL of the HTTP app (through whatever balancer, gateway or container the pattern puts in front). */
	url: string;
	/** Limits the deployment was started with (defaults: 1 MiB body, 1,000 records). */
	limits?: { maxBodyBytes?: number; maxRecords?: number };
	/**
	 * Replaces the served model with a new version while traffic flows; resolves to the version that must be
	 * served afterwards. Without it the hot-swap test is skipped.
	 */
	swapModel?: () => Promise<string>;
	/** Tears the deployment down (processes, containers, temp dirs). */
	stop(): Promise<void>;
}

const golden: GoldenCase[] = readFileSync(
	join(referenceBundleDir, "golden.jsonl"),
	"utf8",
)
	.trim()
	.split("\n")
	.map((line) => JSON.parse(line));
const { features } = parseManifestText(
	readFileSync(join(referenceBundleDir, "mdp.json"), "utf8"),
);

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
 * The contract every deployment of the reference model must meet, whatever the pattern: health, metadata,
 * golden predictions over `/predict` and OIP infer, every class of bad input, 100 parallel requests, and a
 * hot swap under load with zero failed requests. Each pattern runs it against its own deployment.
 *
 * @example
 * describeDeploymentContract("mdp-core serve", async () => {
 *   const server = await startMyDeployment();
 *   return { url: server.url, stop: () => server.stop() };
 * });
 */
export function describeDeploymentContract(
	name: string,
	setup: () => Promise<ContractDeployment>,
): void {
	describe(`deployment contract: ${name}`, () => {
		let deployment: ContractDeployment;
		const call = (path: string, init?: RequestInit) =>
			fetch(new URL(path, deployment.url), init);
		const post = (path: string, body: unknown) =>
			call(path, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: typeof body === "string" ? body : JSON.stringify(body),
			});
		const labels = ["Adelie", "Chinstrap", "Gentoo"];

		beforeAll(async () => {
			deployment = await setup();
		}, 180_000);
		afterAll(async () => {
			await deployment?.stop();
		}, 60_000);

		it("is live and ready", async () => {
			const live = await call("/v2/health/live");
			expect([live.status, await live.json()]).toEqual([200, { live: true }]);
			const ready = await call("/v2/health/ready");
			expect([ready.status, await ready.json()]).toEqual([
				200,
				{ ready: true },
			]);
			expect((await call("/v2/models/penguins/ready")).status).toBe(200);
		});

		it("serves server and model metadata", async () => {
			expect(await (await call("/v2")).json()).toMatchObject({
				name: expect.any(String),
				version: expect.any(String),
			});
			const meta = (await (await call("/v2/models/penguins")).json()) as {
				platform: string;
				inputs: unknown[];
				outputs: unknown[];
			};
			expect(meta.platform).toBe("onnx_onnxv1");
			expect(meta.inputs).toHaveLength(features.length);
			expect(meta.outputs).toContainEqual({
				name: "probabilities",
				datatype: "FP32",
				shape: [-1, 3],
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
				"/v2/models/penguins/infer",
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
			expect([body.id, body.model_name]).toEqual(["contract-1", "penguins"]);
			expect(compareToGolden(golden, fromInferResponse(body, labels))).toEqual(
				[],
			);
		});

		describe("refuses bad input with a 4xx and a JSON error", () => {
			const record = golden[0]?.record ?? {};
			const cases: [string, string, () => unknown, number, RegExp][] = [
				[
					"malformed JSON",
					"/predict",
					() => '{"records": [',
					400,
					/not valid JSON/,
				],
				[
					"a missing feature",
					"/predict",
					() => ({ records: [{ ...record, Island: undefined }] }),
					400,
					/field "Island"/,
				],
				[
					"an unknown category",
					"/predict",
					() => ({ records: [{ ...record, Island: "Atlantis" }] }),
					400,
					/unknown category string "Atlantis"/,
				],
				[
					"a wrong datatype",
					"/v2/models/penguins/infer",
					() => ({
						inputs: [
							{ name: "Island", shape: [1], datatype: "FP32", data: [3] },
						],
					}),
					400,
					/expected BYTES/,
				],
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

		it("swaps the model under load without failing a single request", async (context) => {
			if (!deployment.swapModel) {
				context.skip();
				return;
			}
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
			const version = await deployment.swapModel();
			await new Promise((r) => setTimeout(r, 300));
			stop = true;
			await Promise.all(workers);
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
