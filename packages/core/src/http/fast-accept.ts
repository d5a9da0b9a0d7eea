import {
	type InferRequest,
	DATATYPES as OIP_DATATYPES,
	type PredictRequest,
} from "./schemas.ts";

// The request schemas (zod) stay the one definition of what is valid: they produce the error messages and
// the OpenAPI document. On the hot path a general schema library costs 2–4 µs per request (zod builds a
// result object and copies every record); these guards answer "certainly valid" for an ordinary request in
// a fraction of that and leave every doubtful case to the schema. A guard may say false for a valid body
// (the schema then accepts it), never true for an invalid one: a property test holds them to that.

const DATATYPES = new Set<string>(OIP_DATATYPES);

function isObject(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isOptionalString(value: unknown): boolean {
	return value === undefined || typeof value === "string";
}

/** `parameters`: absent, or an object of strings, finite numbers and booleans. */
function isParameters(value: unknown): boolean {
	if (value === undefined) return true;
	if (!isObject(value)) return false;
	for (const key in value) {
		if (!Object.hasOwn(value, key)) return false;
		const v = value[key];
		if (
			typeof v !== "string" &&
			typeof v !== "boolean" &&
			!(typeof v === "number" && Number.isFinite(v))
		)
			return false;
	}
	return true;
}

/** Tensor data: an array of finite numbers, strings, booleans, nulls and such arrays. */
function isTensorData(value: unknown): boolean {
	if (!Array.isArray(value)) return false;
	for (const item of value) {
		if (item === null || typeof item === "string" || typeof item === "boolean")
			continue;
		if (typeof item === "number") {
			if (!Number.isFinite(item)) return false;
			continue;
		}
		if (!isTensorData(item)) return false;
	}
	return true;
}

/**
 * Whether a parsed body is certainly a valid `POST /predict` request (`schemas.predictRequest` would accept
 * it); false leaves the decision, and the error message, to the schema.
 *
 * @example
 * acceptsPredictRequest({ records: [{ Island: "Dream" }] }); // true
 * acceptsPredictRequest({ records: 1 }); // false: the schema says "records: … expected array"
 */
export function acceptsPredictRequest(value: unknown): value is PredictRequest {
	if (!isObject(value)) return false;
	const { records } = value;
	if (
		!Array.isArray(records) ||
		!isOptionalString(value.model) ||
		!isOptionalString(value.version)
	)
		return false;
	for (const record of records) if (!isObject(record)) return false;
	return true;
}

/**
 * Whether a parsed body is certainly a valid OIP infer request (`schemas.inferRequest` would accept it);
 * false leaves the decision, and the error message, to the schema.
 *
 * @example
 * acceptsInferRequest({ inputs: [{ name: "Island", shape: [1], datatype: "BYTES", data: ["Dream"] }] }); // true
 * acceptsInferRequest({ inputs: [] }); // false: the schema says at least one input
 */
export function acceptsInferRequest(value: unknown): value is InferRequest {
	if (!isObject(value)) return false;
	const { inputs, outputs } = value;
	if (
		!isOptionalString(value.id) ||
		!isParameters(value.parameters) ||
		!Array.isArray(inputs) ||
		inputs.length === 0
	)
		return false;
	for (const input of inputs) {
		if (
			!isObject(input) ||
			typeof input.name !== "string" ||
			typeof input.datatype !== "string" ||
			!DATATYPES.has(input.datatype) ||
			!Array.isArray(input.shape) ||
			!isParameters(input.parameters) ||
			!isTensorData(input.data)
		)
			return false;
		for (const d of input.shape)
			if (!Number.isSafeInteger(d) || (d as number) < 0) return false;
	}
	if (outputs !== undefined) {
		if (!Array.isArray(outputs)) return false;
		for (const output of outputs)
			if (
				!isObject(output) ||
				typeof output.name !== "string" ||
				!isParameters(output.parameters)
			)
				return false;
	}
	return true;
}
