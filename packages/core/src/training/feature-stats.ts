import type {
	CategoricalFeatureSpec,
	FeatureSpec,
	NumericFeatureSpec,
} from "../bundle-manifest.ts";

type Rows = readonly Record<string, unknown>[];

/** How a numeric column's missing values are handled: imputed with the training mean, or rejected. */
export interface NumericColumn {
	name: string;
	kind: "numeric";
	missing: "impute-mean" | "error";
	naValues?: string[];
}

/** How a categorical column's missing values are handled. */
export interface CategoricalColumn {
	name: string;
	kind: "categorical";
	missing: "zeros" | "error";
	naValues?: string[];
}

const HISTOGRAM_BINS = 10;

/** Builds a feature spec with training statistics (mean/std, frequencies, histograms) from training rows. */
export function describeFeatures(
	rows: Rows,
	columns: readonly (NumericColumn | CategoricalColumn)[],
): FeatureSpec[] {
	return columns.map((column) =>
		column.kind === "numeric"
			? describeNumeric(rows, column)
			: describeCategorical(rows, column),
	);
}

function isMissing(value: unknown, naValues: readonly string[]): boolean {
	return (
		value === undefined ||
		value === null ||
		(typeof value === "string" && naValues.includes(value))
	);
}

function describeNumeric(
	rows: Rows,
	column: NumericColumn,
): NumericFeatureSpec {
	const naValues = column.naValues ?? [];
	const values = rows
		.map((r) => r[column.name])
		.filter(
			(v): v is number => !isMissing(v, naValues) && typeof v === "number",
		);
	const mean = values.reduce((s, v) => s + v, 0) / values.length;
	const std = Math.sqrt(
		values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length,
	);
	const min = Math.min(...values);
	const max = Math.max(...values);
	const width = (max - min) / HISTOGRAM_BINS;
	const edges = Array.from({ length: HISTOGRAM_BINS + 1 }, (_, i) =>
		i === HISTOGRAM_BINS ? max : min + i * width,
	);
	const counts = new Array<number>(HISTOGRAM_BINS).fill(0);
	for (const v of values) {
		const bin = Math.min(HISTOGRAM_BINS - 1, Math.floor((v - min) / width));
		counts[bin] = (counts[bin] as number) + 1;
	}
	return {
		name: column.name,
		kind: "numeric",
		mean,
		std,
		missing:
			column.missing === "impute-mean"
				? { strategy: "impute", value: mean }
				: { strategy: "error" },
		naValues,
		stats: {
			count: values.length,
			missing: rows.length - values.length,
			min,
			max,
			histogram: { edges, counts },
		},
	};
}

function describeCategorical(
	rows: Rows,
	column: CategoricalColumn,
): CategoricalFeatureSpec {
	const naValues = column.naValues ?? [];
	const frequencies: Record<string, number> = {};
	let missing = 0;
	for (const row of rows) {
		const value = row[column.name];
		if (isMissing(value, naValues)) missing++;
		else frequencies[String(value)] = (frequencies[String(value)] ?? 0) + 1;
	}
	const categories = Object.keys(frequencies).sort();
	const sorted = Object.fromEntries(
		categories.map((c) => [c, frequencies[c] as number]),
	);
	return {
		name: column.name,
		kind: "categorical",
		categories,
		missing:
			column.missing === "zeros"
				? { strategy: "zeros" }
				: { strategy: "error" },
		naValues,
		stats: { count: rows.length - missing, missing, frequencies: sorted },
	};
}
