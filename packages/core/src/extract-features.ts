import type {
	CategoricalFeatureSpec,
	FeatureSpec,
	NumericFeatureSpec,
} from "./bundle-manifest.ts";
import { CoreError, type FieldIssue } from "./errors.ts";

/** A row-major float32 matrix of model inputs: `rows` records × `columns` feature columns. */
export interface FeatureBatch {
	data: Float32Array;
	rows: number;
	columns: number;
}

/**
 * What the values an extractor received say about drift from the training data, per feature (in spec
 * order), counted since the extractor was created: the live half of training/serving skew.
 */
export interface FeatureDrift {
	/** Feature names, in spec order. */
	readonly features: readonly string[];
	/** Numeric values outside the training range (`stats.min`…`stats.max`). */
	readonly outOfRange: readonly number[];
	/** Missing values that took the declared default. */
	readonly imputed: readonly number[];
	/** Strings that are not a known category (refused). */
	readonly unseen: readonly number[];
}

/** Turns records into a {@link FeatureBatch} for one feature spec; compiled once, used per request. */
export interface FeatureExtractor {
	/** Column names in model-input order (`Island=Biscoe` for one-hot columns). */
	readonly columns: readonly string[];
	/** Drift counters of the records extracted so far (`check` does not count). */
	readonly drift: FeatureDrift;
	/** Problems of one record, empty when it can be extracted. */
	check(record: unknown, index?: number): FieldIssue[];
	/** Extracts every record, or throws `CoreError("INVALID_INPUT")` listing every problem of every record. */
	extract(records: readonly unknown[]): FeatureBatch;
}

/** Result of encoding one value: written, missing (the declared default applies) or invalid. */
type Encoded = 0 | 1 | 2;
const WRITTEN = 0;
const MISSING = 1;
const INVALID = 2;

interface CompiledFeature {
	name: string;
	categorical: boolean;
	/** Whether a written value lies outside the training range (numeric features). */
	outOfRange?: (value: number) => boolean;
	width: number;
	expected: string;
	/** Writes the encoded value at `data[at…]` when it can; tells missing from invalid when it cannot. */
	encode(value: unknown, data: Float32Array, at: number): Encoded;
	/** Writes the declared default for a missing value; undefined when missing is an error. */
	writeMissing: ((data: Float32Array, at: number) => void) | undefined;
	/** Renders an invalid value for an error message. */
	describeInvalid(value: unknown): string;
}

/**
 * Compiles a feature spec into an extractor. Pure: no I/O, no state across calls.
 *
 * Missing means: the field is absent, `null`, or one of the feature's declared `naValues` (such as `"."`).
 * A missing value takes the feature's declared default (`missing.strategy`), and is an error where none is
 * declared. Wrong types and unknown categories are always errors; fields that are not features are ignored.
 */
export function createFeatureExtractor(
	features: readonly FeatureSpec[],
): FeatureExtractor {
	const compiled = features.map(compileFeature);
	const columns = features.flatMap((f) =>
		f.kind === "numeric" ? [f.name] : f.categories.map((c) => `${f.name}=${c}`),
	);
	const width = columns.length;
	const drift = {
		features: features.map((f) => f.name),
		outOfRange: features.map(() => 0),
		imputed: features.map(() => 0),
		unseen: features.map(() => 0),
	};

	/** Writes one record at `data[offset…]`; collects issues only when asked (the slow path). */
	function writeRecord(
		record: unknown,
		index: number,
		data: Float32Array,
		offset: number,
		issues?: FieldIssue[],
	): boolean {
		if (
			typeof record !== "object" ||
			record === null ||
			Array.isArray(record)
		) {
			issues?.push(
				issue(
					index,
					"(record)",
					"a JSON object of feature values",
					describe(record),
				),
			);
			return false;
		}
		const fields = record as Record<string, unknown>;
		let ok = true;
		let at = offset;
		// Drift is counted on the first pass only (the issue-collecting pass repeats a failed record).
		const count = issues === undefined;
		for (let f = 0; f < compiled.length; f++) {
			const feature = compiled[f] as CompiledFeature;
			const value = fields[feature.name];
			const encoded = feature.encode(value, data, at);
			if (encoded === WRITTEN) {
				if (count && feature.outOfRange?.(value as number))
					(drift.outOfRange[f] as number)++;
			} else if (encoded === MISSING && feature.writeMissing) {
				feature.writeMissing(data, at);
				if (count) (drift.imputed[f] as number)++;
			} else {
				if (
					count &&
					feature.categorical &&
					encoded === INVALID &&
					typeof value === "string"
				)
					(drift.unseen[f] as number)++;
				ok = false;
				issues?.push(
					encoded === MISSING
						? issue(
								index,
								feature.name,
								`${feature.expected} (required: no default declared)`,
								describe(value),
							)
						: issue(
								index,
								feature.name,
								feature.expected,
								feature.describeInvalid(value),
							),
				);
			}
			at += feature.width;
		}
		return ok;
	}

	return {
		columns,
		drift,
		check(record, index = 0) {
			const issues: FieldIssue[] = [];
			writeRecord(record, index, new Float32Array(width), 0, issues);
			return issues;
		},
		extract(records) {
			const data = new Float32Array(records.length * width);
			let issues: FieldIssue[] | undefined;
			for (let i = 0; i < records.length; i++) {
				if (!writeRecord(records[i], i, data, i * width)) {
					issues ??= [];
					writeRecord(records[i], i, data, i * width, issues);
				}
			}
			if (issues) {
				const first = issues[0]?.message ?? "invalid record";
				const more =
					issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
				throw new CoreError("INVALID_INPUT", `${first}${more}`, { issues });
			}
			return { data, rows: records.length, columns: width };
		},
	};
}

/** Extracts features from records with a spec; see {@link createFeatureExtractor} for the rules. */
export function extractFeatures(
	records: readonly unknown[],
	features: readonly FeatureSpec[],
): FeatureBatch {
	return createFeatureExtractor(features).extract(records);
}

function compileFeature(feature: FeatureSpec): CompiledFeature {
	return feature.kind === "numeric"
		? compileNumeric(feature)
		: compileCategorical(feature);
}

function isMissing(value: unknown, naValues: ReadonlySet<string>): boolean {
	return (
		value === undefined ||
		value === null ||
		(typeof value === "string" && naValues.has(value))
	);
}

function compileNumeric(feature: NumericFeatureSpec): CompiledFeature {
	const { mean, std, missing } = feature;
	const naValues = new Set(feature.naValues);
	const { min, max } = feature.stats;
	return {
		name: feature.name,
		width: 1,
		categorical: false,
		expected: "a finite number",
		outOfRange: (value) => value < min || value > max,
		encode(value, data, at) {
			if (typeof value === "number") {
				// The model computes in float32: a double such as 1e41 is finite here but Infinity there, and
				// NaN once standardised. The value and its standardised form must both be finite float32s.
				data[at] = (value - mean) / std;
				if (Number.isFinite(data[at]) && Number.isFinite(Math.fround(value)))
					return WRITTEN;
				data[at] = 0;
				return INVALID;
			}
			return isMissing(value, naValues) ? MISSING : INVALID;
		},
		writeMissing:
			missing.strategy === "impute"
				? (data, at) => {
						data[at] = (missing.value - mean) / std;
					}
				: undefined,
		describeInvalid: (value) =>
			typeof value === "number" && Number.isFinite(value)
				? `number ${value}, which is not finite in float32 (the model's precision, ±3.4e38)`
				: describe(value),
	};
}

function compileCategorical(feature: CategoricalFeatureSpec): CompiledFeature {
	const index = new Map<unknown, number>(
		feature.categories.map((c, i) => [c, i]),
	);
	const naValues = new Set(feature.naValues);
	const { missing } = feature;
	let writeMissing: CompiledFeature["writeMissing"];
	if (missing.strategy === "zeros") writeMissing = () => {};
	else if (missing.strategy === "impute") {
		const position = index.get(missing.value) ?? 0;
		writeMissing = (data, at) => {
			data[at + position] = 1;
		};
	}
	return {
		name: feature.name,
		width: feature.categories.length,
		categorical: true,
		expected: `one of ${feature.categories.map((c) => JSON.stringify(c)).join(", ")}`,
		encode(value, data, at) {
			// Known categories first: on the hot path a valid string costs one Map lookup.
			const position = index.get(value);
			if (position !== undefined) {
				data[at + position] = 1;
				return WRITTEN;
			}
			return isMissing(value, naValues) ? MISSING : INVALID;
		},
		writeMissing,
		describeInvalid: (value) =>
			typeof value === "string"
				? `unknown category ${describe(value)}`
				: describe(value),
	};
}

function issue(
	record: number,
	field: string,
	expected: string,
	got: string,
): FieldIssue {
	const where =
		field === "(record)"
			? `record ${record}`
			: `record ${record}, field "${field}"`;
	return {
		record,
		field,
		expected,
		got,
		message: `${where}: expected ${expected}, got ${got}`,
	};
}

function describe(value: unknown): string {
	if (value === undefined) return "nothing (field absent)";
	if (value === null) return "null";
	if (Array.isArray(value)) return "an array";
	if (typeof value === "string")
		return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
	if (typeof value === "number") return `number ${value}`;
	return `${typeof value} ${typeof value === "object" ? "" : String(value)}`.trim();
}
