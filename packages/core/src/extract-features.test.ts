import { describe, expect, it } from "vitest";
import type { FeatureSpec } from "./bundle-manifest.ts";
import { CoreError } from "./errors.ts";
import { createFeatureExtractor, extractFeatures } from "./extract-features.ts";

const stats = {
	count: 10,
	missing: 0,
	min: 0,
	max: 10,
	histogram: { edges: [0, 10], counts: [10] },
};
const features: FeatureSpec[] = [
	{
		name: "size",
		kind: "numeric",
		mean: 5,
		std: 2,
		missing: { strategy: "impute", value: 7 },
		naValues: ["NA"],
		stats,
	},
	{
		name: "weight",
		kind: "numeric",
		mean: 1,
		std: 4,
		missing: { strategy: "error" },
		naValues: [],
		stats,
	},
	{
		name: "colour",
		kind: "categorical",
		categories: ["blue", "red"],
		missing: { strategy: "zeros" },
		naValues: ["."],
		stats: { count: 10, missing: 0, frequencies: { blue: 5, red: 5 } },
	},
	{
		name: "shape",
		kind: "categorical",
		categories: ["round", "square", "star"],
		missing: { strategy: "impute", value: "square" },
		naValues: [],
		stats: {
			count: 10,
			missing: 0,
			frequencies: { round: 3, square: 4, star: 3 },
		},
	},
	{
		name: "kind",
		kind: "categorical",
		categories: ["a", "b"],
		missing: { strategy: "error" },
		naValues: [],
		stats: { count: 10, missing: 0, frequencies: { a: 5, b: 5 } },
	},
];
const good = { size: 9, weight: 5, colour: "red", shape: "star", kind: "b" };

function issuesOf(records: unknown[]) {
	try {
		extractFeatures(records, features);
	} catch (error) {
		expect(error).toBeInstanceOf(CoreError);
		expect((error as CoreError).code).toBe("INVALID_INPUT");
		return (error as CoreError).issues;
	}
	throw new Error("expected extraction to fail");
}

describe("createFeatureExtractor", () => {
	it("names one column per numeric feature and one per category, in spec order", () => {
		expect(createFeatureExtractor(features).columns).toEqual([
			"size",
			"weight",
			"colour=blue",
			"colour=red",
			"shape=round",
			"shape=square",
			"shape=star",
			"kind=a",
			"kind=b",
		]);
	});

	it("standardises numbers and one-hot encodes categories", () => {
		const batch = extractFeatures(
			[good, { ...good, size: 1, colour: "blue", shape: "round", kind: "a" }],
			features,
		);
		expect(batch.rows).toBe(2);
		expect(batch.columns).toBe(9);
		expect(Array.from(batch.data)).toEqual([
			2, 1, 0, 1, 0, 0, 1, 0, 1, -2, 1, 1, 0, 1, 0, 0, 1, 0,
		]);
	});

	it("applies declared defaults to absent, null and NA-token values", () => {
		const batch = extractFeatures(
			[
				{ weight: 1, kind: "a" },
				{ size: "NA", weight: 1, colour: ".", shape: null, kind: "a" },
			],
			features,
		);
		const row = [1, 0, 0, 0, 0, 1, 0, 1, 0]; // size imputed 7 → (7−5)/2; colour zeros; shape imputed "square"
		expect(Array.from(batch.data)).toEqual([...row, ...row]);
	});

	it("ignores fields that are not features", () => {
		expect(
			extractFeatures([{ ...good, Species: "Adelie", extra: [1] }], features)
				.data,
		).toEqual(extractFeatures([good], features).data);
	});

	it("returns an empty batch for no records", () => {
		expect(extractFeatures([], features)).toEqual({
			data: new Float32Array(0),
			rows: 0,
			columns: 9,
		});
	});

	describe("rejects bad input with the record, the field, what was expected and what came", () => {
		it("a missing field without a default is an error, not a silent zero", () => {
			const { weight: _weight, ...record } = good;
			expect(issuesOf([record])).toEqual([
				{
					record: 0,
					field: "weight",
					expected: "a finite number (required: no default declared)",
					got: "nothing (field absent)",
					message:
						'record 0, field "weight": expected a finite number (required: no default declared), got nothing (field absent)',
				},
			]);
			expect(issuesOf([{ ...good, kind: null }])[0]).toMatchObject({
				field: "kind",
				got: "null",
			});
		});

		it("wrong types", () => {
			const issues = issuesOf([
				{
					...good,
					size: "9",
					weight: true,
					colour: 3,
					shape: ["round"],
					kind: { a: 1 },
				},
			]);
			expect(issues.map((i) => [i.field, i.got])).toEqual([
				["size", 'string "9"'],
				["weight", "boolean true"],
				["colour", "number 3"],
				["shape", "an array"],
				["kind", "object"],
			]);
		});

		it("unknown categories, including an NA token of another feature", () => {
			const issues = issuesOf([{ ...good, colour: "green", shape: "." }]);
			expect(issues.map((i) => [i.field, i.expected, i.got])).toEqual([
				["colour", 'one of "blue", "red"', 'unknown category string "green"'],
				[
					"shape",
					'one of "round", "square", "star"',
					'unknown category string "."',
				],
			]);
		});

		it("records that are not objects", () => {
			expect(
				issuesOf([null, [1, 2], "x"]).map((i) => [i.record, i.field, i.got]),
			).toEqual([
				[0, "(record)", "null"],
				[1, "(record)", "an array"],
				[2, "(record)", 'string "x"'],
			]);
		});

		it("every bad record of a batch, with its index, while good ones are not reported", () => {
			const issues = issuesOf([
				good,
				{ ...good, size: "big" },
				good,
				{ ...good, kind: "z" },
			]);
			expect(issues.map((i) => i.record)).toEqual([1, 3]);
		});

		it("summarises the first issue and the count in the message", () => {
			expect(() => extractFeatures([{}, {}], features)).toThrow(
				/^record 0, field "weight": .* \(and 3 more\)$/,
			);
		});
	});

	it("check() reports one record's issues without throwing", () => {
		const extractor = createFeatureExtractor(features);
		expect(extractor.check(good)).toEqual([]);
		expect(extractor.check({ ...good, size: Number.NaN }, 4)).toMatchObject([
			{ record: 4, field: "size", got: "number NaN" },
		]);
	});
});

describe("float32 precision (issue 14, defect 3)", () => {
	it("refuses a finite double that is not finite in float32, naming the field", () => {
		for (const size of [1e41, -1e39, 3.5e38, Number.MAX_VALUE]) {
			expect(issuesOf([good, { ...good, size }]), String(size)).toMatchObject([
				{
					record: 1,
					field: "size",
					got: expect.stringMatching(/not finite in float32/),
				},
			]);
		}
	});

	it("refuses a value whose standardised form overflows float32", () => {
		// weight: (x − 1) / 4, finite for 1e38 but not for 3.4e38 once the std divides a float32 max away.
		const tiny: FeatureSpec = {
			name: "tiny",
			kind: "numeric",
			mean: 0,
			std: 1e-10,
			missing: { strategy: "error" },
			naValues: [],
			stats,
		};
		expect(() => extractFeatures([{ tiny: 1e30 }], [tiny])).toThrow(
			/record 0, field "tiny": expected a finite number, got number 1e\+30, which is not finite in float32/,
		);
		const batch = extractFeatures([{ tiny: 1e20 }], [tiny]);
		expect(batch.data[0]).toBeCloseTo(1e30, -25);
	});

	it("keeps the largest float32 values that stay finite", () => {
		const batch = extractFeatures([{ ...good, size: 3e38 }], features);
		expect(Number.isFinite(batch.data[0])).toBe(true);
	});
});

describe("drift counters (issue 14, data outside the training range)", () => {
	it("count out-of-range numbers, imputed missing values and unseen categories per feature, once per record", () => {
		const extractor = createFeatureExtractor(features);
		// size: training range 0..10 (stats above); weight likewise.
		extractor.extract([
			good,
			{ ...good, size: 11 },
			{ ...good, size: -1, weight: 10.5 },
			{ ...good, size: null, colour: "." },
		]);
		expect(() =>
			extractor.extract([{ ...good, colour: "green", size: 12 }]),
		).toThrow(/unknown category/);
		extractor.check({ ...good, size: 99 }); // a check is not traffic
		expect(extractor.drift).toEqual({
			features: ["size", "weight", "colour", "shape", "kind"],
			outOfRange: [3, 1, 0, 0, 0],
			imputed: [1, 0, 1, 0, 0],
			unseen: [0, 0, 1, 0, 0],
		});
	});
});
