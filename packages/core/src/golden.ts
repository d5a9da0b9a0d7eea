import { readFile } from "node:fs/promises";
import { CoreError } from "./errors.ts";
import type { Prediction } from "./predictor.ts";

/** One line of a bundle's `golden.jsonl`: an input record and the prediction every pattern must return. */
export interface GoldenCase {
	id: string;
	record: Record<string, unknown>;
	expected: Prediction;
}

/** A difference between a prediction and its golden case. */
export interface GoldenMismatch {
	id: string;
	expected: Prediction;
	actual: Prediction | undefined;
	/** Largest absolute difference over the probabilities (Infinity when labels or sizes differ). */
	maxAbsDiff: number;
}

/** Reads a `golden.jsonl` file. */
export async function readGoldenSet(path: string): Promise<GoldenCase[]> {
	const text = await readFile(path, "utf8");
	return text
		.split("\n")
		.filter((line) => line.trim() !== "")
		.map((line, i) => {
			const value = JSON.parse(line) as GoldenCase;
			if (
				typeof value.id !== "string" ||
				typeof value.record !== "object" ||
				typeof value.expected !== "object"
			) {
				throw new CoreError(
					"INVALID_ARGUMENT",
					`${path}:${i + 1}: expected {"id", "record", "expected"}`,
				);
			}
			return value;
		});
}

/**
 * Compares predictions with golden cases, in order. `tolerance` 0 (the default) demands bit-identical
 * probabilities, which is what the same runtime must give; across runtimes (wasm) use 1e-6.
 */
export function compareToGolden(
	golden: readonly GoldenCase[],
	actual: readonly (Prediction | undefined)[],
	tolerance = 0,
): GoldenMismatch[] {
	const mismatches: GoldenMismatch[] = [];
	golden.forEach((g, i) => {
		const a = actual[i];
		let maxAbsDiff =
			a && a.label === g.expected.label ? 0 : Number.POSITIVE_INFINITY;
		const labels = Object.keys(g.expected.probabilities);
		if (a && Object.keys(a.probabilities).length !== labels.length)
			maxAbsDiff = Number.POSITIVE_INFINITY;
		for (const label of labels) {
			const diff = Math.abs(
				(a?.probabilities[label] ?? Number.NaN) -
					(g.expected.probabilities[label] as number),
			);
			maxAbsDiff = Number.isNaN(diff)
				? Number.POSITIVE_INFINITY
				: Math.max(maxAbsDiff, diff);
		}
		if (maxAbsDiff > tolerance)
			mismatches.push({
				id: g.id,
				expected: g.expected,
				actual: a,
				maxAbsDiff,
			});
	});
	return mismatches;
}
