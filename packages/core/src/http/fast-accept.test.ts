import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readGoldenSet } from "../golden.ts";
import { loadBundle } from "../load-bundle.ts";
import { referenceBundleDir } from "../reference-bundle.ts";
import { acceptsInferRequest, acceptsPredictRequest } from "./fast-accept.ts";
import { toInferRequest } from "./oip.ts";
import * as schemas from "./schemas.ts";

// A guard that says true for a body the schema refuses would let a bad request past validation: the
// property below generates near-valid requests (every field right, wrong or missing) and holds each guard
// to "true implies the schema accepts". The ordinary requests must take the fast path, or it saves nothing.

const key = fc.constantFrom(
	"model",
	"version",
	"records",
	"id",
	"parameters",
	"inputs",
	"outputs",
	"name",
	"shape",
	"datatype",
	"data",
	"__proto__",
	"constructor",
	"x",
);
const scalar = fc.oneof(
	fc.string({ maxLength: 4 }),
	fc.double(),
	fc.integer({ min: -3, max: 3 }),
	fc.boolean(),
	fc.constant(null),
	fc.constant(Number.MAX_SAFE_INTEGER + 2),
	fc.constantFrom("FP32", "BYTES", "INT64", "fp32", ""),
);
const { json } = fc.letrec((tie) => ({
	json: fc.oneof(
		{ depthSize: "small" },
		scalar,
		fc.array(tie("json"), { maxLength: 3 }),
		fc.dictionary(key, tie("json"), { maxKeys: 4 }),
	),
}));
/** Mostly `valid`, sometimes any JSON: near-valid requests reach both sides of the schema. */
const mostly = <T>(valid: fc.Arbitrary<T>) =>
	fc.oneof({ arbitrary: valid, weight: 5 }, { arbitrary: json, weight: 1 });
const maybe = <T>(arb: fc.Arbitrary<T>) =>
	fc.option(arb, { nil: undefined, freq: 3 });
const parameters = maybe(
	mostly(fc.dictionary(fc.string(), scalar, { maxKeys: 2 })),
);
const tensorData = mostly(
	fc.oneof(
		fc.array(scalar, { maxLength: 3 }),
		fc.array(fc.array(scalar, { maxLength: 2 }), { maxLength: 2 }),
	),
);
const input = mostly(
	fc.record(
		{
			name: mostly(fc.string({ maxLength: 3 })),
			shape: mostly(
				fc.array(
					fc.oneof(
						{ arbitrary: fc.nat(3), weight: 8 },
						fc.constantFrom(-1, 0.5, Number.MAX_SAFE_INTEGER + 2),
					),
					{ maxLength: 2 },
				),
			),
			datatype: mostly(
				fc.constantFrom("FP32", "BYTES", "INT64", "BOOL", "fp32", ""),
			),
			parameters,
			data: tensorData,
		},
		{ requiredKeys: ["name", "shape", "datatype", "data"] },
	),
);
const inferLike = fc.record(
	{
		id: maybe(mostly(fc.string())),
		parameters,
		inputs: mostly(
			fc.oneof(
				{
					arbitrary: fc.array(input, { minLength: 1, maxLength: 3 }),
					weight: 9,
				},
				fc.constant([]),
			),
		),
		outputs: maybe(
			mostly(
				fc.array(mostly(fc.record({ name: mostly(fc.string()), parameters })), {
					maxLength: 2,
				}),
			),
		),
	},
	{ requiredKeys: [] },
);
const predictLike = fc.record(
	{
		model: maybe(fc.oneof(fc.string(), json)),
		version: maybe(fc.oneof(fc.string(), json)),
		records: fc.oneof(
			fc.array(
				fc.oneof(fc.dictionary(fc.string(), scalar, { maxKeys: 3 }), json),
				{
					maxLength: 3,
				},
			),
			json,
		),
	},
	{ requiredKeys: [] },
);
/** As the server sees a body: through JSON (no undefined, no -0, no NaN). */
const viaJson = (value: unknown): unknown =>
	JSON.parse(JSON.stringify(value) ?? "null");

describe("fast-accept guards", () => {
	it("say true only for predict requests the schema accepts", () => {
		let accepted = 0;
		fc.assert(
			fc.property(fc.oneof(predictLike, json), (raw) => {
				const body = viaJson(raw);
				if (acceptsPredictRequest(body)) {
					accepted++;
					expect(schemas.predictRequest.safeParse(body).success).toBe(true);
				}
			}),
			{ numRuns: 3000 },
		);
		// The property is not vacuous: the generator reaches valid bodies.
		expect(accepted).toBeGreaterThan(100);
	});

	it("say true only for infer requests the schema accepts", () => {
		let accepted = 0;
		fc.assert(
			fc.property(fc.oneof(inferLike, json), (raw) => {
				const body = viaJson(raw);
				if (acceptsInferRequest(body)) {
					accepted++;
					expect(schemas.inferRequest.safeParse(body).success).toBe(true);
				}
			}),
			{ numRuns: 4000 },
		);
		expect(accepted).toBeGreaterThan(40);
	});

	it("take the fast path for the golden set's requests, in both APIs", async () => {
		const { manifest } = await loadBundle(referenceBundleDir);
		const golden = await readGoldenSet(
			join(referenceBundleDir, "golden.jsonl"),
		);
		const records = golden.map((g) => g.record as Record<string, unknown>);
		expect(acceptsPredictRequest(viaJson({ records }))).toBe(true);
		expect(
			acceptsPredictRequest(
				viaJson({
					model: "penguins",
					version: "1",
					records: records.slice(0, 1),
				}),
			),
		).toBe(true);
		expect(
			acceptsInferRequest(
				viaJson(toInferRequest(records, manifest.features, "id-1")),
			),
		).toBe(true);
		// JSON.parse turns 1e400 into Infinity, which the schema refuses wherever a number goes.
		const input = { name: "a", shape: [1], datatype: "FP32", data: [1] };
		for (const body of [
			'{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1e400]}]}',
			'{"inputs":[{"name":"a","shape":[1e400],"datatype":"FP32","data":[1]}]}',
			`{"parameters":{"p":1e400},"inputs":[${JSON.stringify(input)}]}`,
		]) {
			const parsed = JSON.parse(body);
			expect(schemas.inferRequest.safeParse(parsed).success).toBe(false);
			expect(acceptsInferRequest(parsed)).toBe(false);
		}
		// And leave to the schema what it must refuse.
		expect(acceptsPredictRequest({ records: [1] })).toBe(false);
		expect(acceptsInferRequest({ inputs: [] })).toBe(false);
		expect(
			acceptsInferRequest({
				inputs: [{ name: "a", shape: [-1], datatype: "FP32", data: [1] }],
			}),
		).toBe(false);
	});
});
