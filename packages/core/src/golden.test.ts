import { describe, expect, it } from "vitest";
import { compareToGolden, type GoldenCase } from "./golden.ts";
import type { Prediction } from "./predictor.ts";

const golden: GoldenCase[] = [
	{
		id: "a",
		record: {},
		expected: { label: "x", probabilities: { x: 0.75, y: 0.25 } },
	},
	{
		id: "b",
		record: {},
		expected: { label: "y", probabilities: { x: 0.1, y: 0.9 } },
	},
];

describe("compareToGolden", () => {
	it("accepts identical predictions", () => {
		expect(
			compareToGolden(
				golden,
				golden.map((g) => g.expected),
			),
		).toEqual([]);
	});

	it("demands bit-identical probabilities by default and honours a tolerance", () => {
		const actual = [
			golden[0]?.expected,
			{ label: "y", probabilities: { x: 0.1 + 1e-9, y: 0.9 } },
		];
		expect(compareToGolden(golden, actual).map((m) => m.id)).toEqual(["b"]);
		expect(compareToGolden(golden, actual, 1e-6)).toEqual([]);
	});

	it("reports a different label, a missing label or a missing prediction", () => {
		const actual: Prediction[] = [
			{ label: "y", probabilities: { x: 0.75, y: 0.25 } },
			{ label: "y", probabilities: { y: 0.9 } },
		];
		expect(
			compareToGolden(golden, actual).map((m) => [m.id, m.maxAbsDiff]),
		).toEqual([
			["a", Number.POSITIVE_INFINITY],
			["b", Number.POSITIVE_INFINITY],
		]);
		expect(compareToGolden(golden, [golden[0]?.expected])).toMatchObject([
			{ id: "b", actual: undefined },
		]);
	});
});
