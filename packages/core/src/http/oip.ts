import type { FeatureSpec } from "../bundle-manifest.ts";
import { CoreError } from "../errors.ts";
import type { HostedModel } from "../model-host.ts";
import type { Prediction } from "../predictor.ts";
import type { InferRequest, InferResponse } from "./schemas.ts";

/** ONNX models served through onnxruntime, in OIP's `<project>_<format>` form. */
export const PLATFORM = "onnx_onnxv1";
const NUMERIC_TYPES = new Set([
	"FP16",
	"FP32",
	"FP64",
	"INT8",
	"INT16",
	"INT32",
	"INT64",
	"UINT8",
	"UINT16",
	"UINT32",
	"UINT64",
]);

/**
 * Tabular records as OIP tensors: one input per feature (name = feature name, shape [N], FP32 for numbers,
 * BYTES for strings), outputs `label` (BYTES [N]) and `probabilities` (FP32 [N, K]).
 */
export function toModelMetadata(
	model: HostedModel,
	versions: readonly string[],
) {
	const k = model.manifest.target.labels.length;
	return {
		name: model.name,
		versions: [...versions],
		platform: PLATFORM,
		inputs: model.manifest.features.map((f) => ({
			name: f.name,
			datatype: datatypeOf(f),
			shape: [-1],
		})),
		outputs: [
			{ name: "label", datatype: "BYTES" as const, shape: [-1] },
			{ name: "probabilities", datatype: "FP32" as const, shape: [-1, k] },
		],
	};
}

function datatypeOf(feature: FeatureSpec): "FP32" | "BYTES" {
	return feature.kind === "numeric" ? "FP32" : "BYTES";
}

/**
 * Turns an OIP request into records. Every input must name a feature; a feature without an input is missing
 * in every row (its declared default applies). `null` elements are missing values. Shapes are checked
 * against the data before anything runs.
 */
export function toRecords(
	request: InferRequest,
	features: readonly FeatureSpec[],
): Record<string, unknown>[] {
	const { byName, template } = featureIndex(features);
	let rows: number | undefined;
	const names: string[] = [];
	const columns: (readonly unknown[])[] = [];
	for (let i = 0; i < request.inputs.length; i++) {
		const input = request.inputs[i] as InferRequest["inputs"][number];
		const feature = byName.get(input.name);
		if (!feature) {
			throw invalid(
				`${where(i, input)}: unknown input; the model's inputs are ${features.map((f) => JSON.stringify(f.name)).join(", ")}`,
			);
		}
		if (names.includes(input.name))
			throw invalid(`${where(i, input)}: given twice`);
		const expected = datatypeOf(feature);
		const accepted =
			expected === "BYTES"
				? input.datatype === "BYTES"
				: NUMERIC_TYPES.has(input.datatype);
		if (!accepted)
			throw invalid(
				`${where(i, input)}: datatype ${input.datatype}, expected ${expected}`,
			);
		const { shape } = input;
		const n = shape[0];
		let trailingOnes = true;
		for (let d = 1; d < shape.length; d++)
			if (shape[d] !== 1) trailingOnes = false;
		if (n === undefined || !trailingOnes)
			throw invalid(
				`${where(i, input)}: shape [${shape.join(", ")}], expected [N] or [N, 1]`,
			);
		const data = flat(input.data as unknown[]);
		if (data.length !== n)
			throw invalid(
				`${where(i, input)}: shape [${shape.join(", ")}] holds ${n} elements but data has ${data.length}`,
			);
		if (rows !== undefined && n !== rows)
			throw invalid(
				`${where(i, input)}: ${n} rows, but earlier inputs have ${rows}`,
			);
		rows = n;
		names.push(input.name);
		columns.push(data);
	}
	const records = new Array<Record<string, unknown>>(rows ?? 0);
	for (let r = 0; r < records.length; r++) {
		// A copy of the template has every feature's property already (undefined = missing, as when
		// absent), so the loop below overwrites properties instead of growing a new object key by key.
		const record: Record<string, unknown> = { ...template };
		for (let c = 0; c < names.length; c++)
			record[names[c] as string] = (columns[c] as readonly unknown[])[r];
		records[r] = record;
	}
	return records;
}

/**
 * Records as an OIP request for a model's features, the inverse of {@link toRecords}: one input per
 * feature (FP32 for numbers, BYTES for strings, shape [N]), `null` where a record has no value.
 */
export function toInferRequest(
	records: readonly Record<string, unknown>[],
	features: readonly FeatureSpec[],
	id?: string,
): InferRequest {
	return {
		...(id === undefined ? {} : { id }),
		inputs: features.map((f) => ({
			name: f.name,
			shape: [records.length],
			datatype: datatypeOf(f),
			data: records.map((r) => (r[f.name] ?? null) as string | number | null),
		})),
	};
}

/** Builds the OIP response, honouring the request's `outputs` selection and echoing its `id`. */
export function toInferResponse(
	model: HostedModel,
	request: InferRequest,
	predictions: readonly Prediction[],
): InferResponse {
	const labels = model.manifest.target.labels;
	const all = {
		label: {
			name: "label",
			shape: [predictions.length],
			datatype: "BYTES" as const,
			data: predictions.map((p) => p.label),
		},
		probabilities: {
			name: "probabilities",
			shape: [predictions.length, labels.length],
			datatype: "FP32" as const,
			data: predictions.flatMap((p) =>
				labels.map((l) => p.probabilities[l] as number),
			),
		},
	};
	const wanted = request.outputs?.map((o) => o.name) ?? [
		"label",
		"probabilities",
	];
	const outputs = wanted.map((name, i) => {
		// Own properties only: "constructor", "toString" or "__proto__" are not outputs.
		if (!Object.hasOwn(all, name))
			throw invalid(
				`outputs[${i}]: unknown output ${JSON.stringify(name.length > 100 ? `${name.slice(0, 100)}…` : name)}; the model's outputs are "label", "probabilities"`,
			);
		return all[name as keyof typeof all];
	});
	return {
		model_name: model.name,
		model_version: model.version,
		...(request.id === undefined ? {} : { id: request.id }),
		outputs,
	};
}

interface FeatureIndex {
	byName: Map<string, FeatureSpec>;
	/** A record with every feature's property, undefined (missing): copied per row by {@link toRecords}. */
	template: Record<string, undefined>;
}
const indexCache = new WeakMap<readonly FeatureSpec[], FeatureIndex>();
/** The features by name and the record template, built once per manifest (this runs on every infer request). */
function featureIndex(features: readonly FeatureSpec[]): FeatureIndex {
	let index = indexCache.get(features);
	if (!index) {
		const template: Record<string, undefined> = {};
		for (const f of features) template[f.name] = undefined;
		index = { byName: new Map(features.map((f) => [f.name, f])), template };
		indexCache.set(features, index);
	}
	return index;
}

/** Where an input is, for an error message. */
function where(i: number, input: { name: string }): string {
	return `inputs[${i}] ("${input.name}")`;
}

/** Tensor data row-major and flat: the array itself when it is flat already (the usual case). */
function flat(data: readonly unknown[]): readonly unknown[] {
	for (let i = 0; i < data.length; i++)
		if (Array.isArray(data[i])) return flatten(data);
	return data;
}

/** Row-major flattening of nested tensor data (OIP accepts nested and flat arrays alike). */
function flatten(data: readonly unknown[], into: unknown[] = []): unknown[] {
	for (const value of data) {
		if (Array.isArray(value)) flatten(value, into);
		else into.push(value);
	}
	return into;
}

function invalid(message: string): CoreError {
	return new CoreError("INVALID_INPUT", message);
}
