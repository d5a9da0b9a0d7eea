import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FeatureSpec } from "../bundle-manifest.ts";
import { compareToGolden, type GoldenCase, readGoldenSet } from "../golden.ts";
import { ModelHost } from "../model-host.ts";
import { referenceBundleDir } from "../reference-bundle.ts";
import { createApp, type ServingApp } from "./create-app.ts";

// Issue 14, "make the class of bug impossible to reintroduce": arbitrary JSON, arbitrary OIP requests and
// arbitrary records, in-process. Never a 5xx, never a 200 with a non-finite number, an error that names
// the field at fault, and the known answer to a known request afterwards. Bounded: a few thousand cases.

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field.
type Json = any;

let host: ModelHost;
let serving: ServingApp;
let golden: GoldenCase[];
let features: readonly FeatureSpec[];
let labels: readonly string[];
const unexpected: unknown[] = [];
beforeAll(async () => {
	host = new ModelHost({ batching: { maxBatchRows: 32 } });
	const model = await host.load(referenceBundleDir);
	features = model.manifest.features;
	labels = model.manifest.target.labels;
	serving = createApp({
		host,
		limits: { maxRecords: 50 },
		onUnexpectedError: (error) => unexpected.push(error),
	});
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
});
afterAll(async () => {
	serving.close();
	await host.close();
});

const post = (path: string, body: unknown) =>
	serving.app.request(path, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: typeof body === "string" ? body : JSON.stringify(body),
	});

/** Every number anywhere in a value is finite. */
function allFinite(value: unknown): boolean {
	if (typeof value === "number") return Number.isFinite(value);
	if (Array.isArray(value)) return value.every(allFinite);
	if (value && typeof value === "object")
		return Object.values(value).every(allFinite);
	return true;
}

/** The invariants every answer keeps; returns the parsed body. */
async function checkAnswer(res: Response): Promise<Json> {
	const text = await res.text();
	expect(res.status, text.slice(0, 300)).toBeLessThan(500);
	expect(res.headers.get("content-type")).toMatch(/application\/json/);
	const body = JSON.parse(text);
	if (res.status === 200)
		expect(allFinite(body), text.slice(0, 300)).toBe(true);
	else expect(typeof body.error).toBe("string");
	return body;
}

/** Values a hostile client puts where a feature value goes. */
const anyValue = (): fc.Arbitrary<unknown> =>
	fc.oneof(
		fc.double(),
		fc.integer(),
		fc.constantFrom(1e41, -1e39, 3.4e38, 3.5e38, 1e-45, 0, -0, 1e308),
		fc.string(),
		fc.constantFrom(
			"Biscoe",
			"Dream",
			"Torgersen",
			"MALE",
			"FEMALE",
			".",
			"NA",
			"constructor",
			"__proto__",
			"toString",
		),
		fc.constant(null),
		fc.boolean(),
		fc.array(fc.integer(), { maxLength: 3 }),
		fc.dictionary(fc.string(), fc.integer(), { maxKeys: 2 }),
	);

const RUNS = 1000;

describe("property: the app never answers 5xx or a non-finite number", () => {
	it("for arbitrary JSON bodies on every prediction route", async () => {
		await fc.assert(
			fc.asyncProperty(
				fc.constantFrom(
					"/predict",
					"/v2/models/penguins/infer",
					"/v2/models/penguins/versions/1.0.0/infer",
				),
				fc.oneof(
					fc.jsonValue({ maxDepth: 6 }),
					fc.record({ records: fc.jsonValue({ maxDepth: 5 }) }),
					fc.record({ inputs: fc.jsonValue({ maxDepth: 5 }) }),
				),
				async (path, body) => {
					await checkAnswer(await post(path, body));
				},
			),
			{ numRuns: RUNS },
		);
	});

	it("for arbitrary OIP requests, naming the input or output at fault", async () => {
		const featureNames = () => features.map((f) => f.name);
		const input = fc.record({
			name: fc.oneof(fc.constantFrom(...featureNames()), fc.string()),
			shape: fc.oneof(
				fc.array(fc.integer({ min: 0, max: 4 }), {
					minLength: 1,
					maxLength: 3,
				}),
				fc.constant([2]),
			),
			datatype: fc.constantFrom("FP32", "BYTES", "INT64", "FP64", "BOOL"),
			data: fc.array(
				fc.oneof(anyValue(), fc.array(anyValue(), { maxLength: 2 })),
				{
					maxLength: 4,
				},
			),
		});
		await fc.assert(
			fc.asyncProperty(
				fc.array(input, { minLength: 1, maxLength: 7 }),
				fc.option(
					fc.array(
						fc.record({
							name: fc.oneof(
								fc.constantFrom(
									"label",
									"probabilities",
									"constructor",
									"__proto__",
									"valueOf",
								),
								fc.string(),
							),
						}),
						{ maxLength: 3 },
					),
					{ nil: undefined },
				),
				async (inputs, outputs) => {
					const res = await post("/v2/models/penguins/infer", {
						inputs,
						...(outputs ? { outputs } : {}),
					});
					const body = await checkAnswer(res);
					if (res.status === 400)
						expect(body.error).toMatch(/inputs|outputs|record \d+/);
					if (res.status === 200) {
						const wanted = outputs?.map((o) => o.name) ?? [
							"label",
							"probabilities",
						];
						expect(body.outputs.map((o: Json) => o.name)).toEqual(wanted);
						for (const o of body.outputs)
							if (o.name === "label")
								for (const l of o.data) expect(labels).toContain(l);
					}
				},
			),
			{ numRuns: RUNS },
		);
	});

	it("for arbitrary records, naming the record and the field at fault", async () => {
		const record = fc.oneof(
			{ weight: 4, arbitrary: fc.constant(undefined) },
			{ weight: 1, arbitrary: anyValue() },
		);
		const records = fc.array(
			fc.tuple(
				fc.integer({ min: 0, max: 1000 }),
				fc.dictionary(
					fc.oneof(
						fc.constantFrom(...features.map((f) => f.name)),
						fc.string(),
					),
					anyValue(),
					{ maxKeys: 8 },
				),
				record,
			),
			{ maxLength: 8 },
		);
		await fc.assert(
			fc.asyncProperty(records, async (rows) => {
				// Start from a golden record, then overwrite fields, or replace the record outright.
				const sent = rows.map(([i, fields, replacement]) =>
					replacement !== undefined
						? replacement
						: {
								...(golden[i % golden.length] as GoldenCase).record,
								...fields,
							},
				);
				const res = await post("/predict", { records: sent });
				const body = await checkAnswer(res);
				if (res.status === 200) {
					expect(body.predictions).toHaveLength(sent.length);
					for (const p of body.predictions) {
						expect(labels).toContain(p.label);
						expect(Object.keys(p.probabilities)).toEqual(labels);
					}
				} else {
					expect(res.status).toBe(400);
					expect(body.error).toMatch(/record \d+|records/);
					for (const issue of body.issues ?? []) {
						expect([...features.map((f) => f.name), "(record)"]).toContain(
							issue.field,
						);
						expect(issue.record).toBeLessThan(sent.length);
					}
				}
			}),
			{ numRuns: RUNS },
		);
	});

	it("and still gives the known answers afterwards, with nothing logged as unexpected", async () => {
		const res = await post("/predict", {
			records: golden.slice(0, 50).map((g) => g.record),
		});
		expect(res.status).toBe(200);
		const body = (await res.json()) as Json;
		expect(compareToGolden(golden.slice(0, 50), body.predictions)).toEqual([]);
		expect(unexpected).toEqual([]);
		expect(serving.inFlight()).toBe(0);
	});
});
