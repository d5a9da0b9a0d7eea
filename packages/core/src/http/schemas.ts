import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";

// The request and response schemas of the HTTP app. Requests are validated with them and the OpenAPI
// document is generated from them, so the two cannot drift apart. `zod/mini` keeps the serving bundle
// small; it ships no messages, so zod's English ones are configured here.
z.config(en());

/** Names a schema in the OpenAPI document (`components.schemas.<id>`). */
function named<T extends z.ZodMiniType>(schema: T, id: string): T {
	z.globalRegistry.add(schema, { id });
	return schema;
}
function described<T extends z.ZodMiniType>(schema: T, description: string): T {
	z.globalRegistry.add(schema, { description });
	return schema;
}

/** The tensor datatypes of the Open Inference Protocol v2. */
export const DATATYPES = [
	"BOOL",
	"UINT8",
	"UINT16",
	"UINT32",
	"UINT64",
	"INT8",
	"INT16",
	"INT32",
	"INT64",
	"FP16",
	"FP32",
	"FP64",
	"BYTES",
] as const;
const datatype = z.enum(DATATYPES);
const parameters = z.record(
	z.string(),
	z.union([z.string(), z.number(), z.boolean()]),
);
type TensorData = (number | string | boolean | null | TensorData)[];
const tensorData: z.ZodMiniType<TensorData> = z.lazy(() =>
	z.array(z.union([z.number(), z.string(), z.boolean(), z.null(), tensorData])),
);
const shape = z.array(z.int());

/** An error body: what went wrong, and for bad records the field-level issues. */
export const errorBody = named(
	z.object({
		error: z.string(),
		issues: z.optional(
			z.array(
				z.object({
					record: z.int(),
					field: z.string(),
					expected: z.string(),
					got: z.string(),
					message: z.string(),
				}),
			),
		),
		issues_omitted: z.optional(z.int()),
	}),
	"Error",
);

/** `POST /predict` body. */
export const predictRequest = named(
	z.object({
		model: z.optional(
			described(z.string(), "Model name; the default model when absent"),
		),
		version: z.optional(
			described(
				z.string(),
				"Model version; the model's default version when absent (needs model)",
			),
		),
		records: described(
			z.array(z.record(z.string(), z.unknown())),
			"Records: objects of feature name → value (number, string, or null for missing)",
		),
	}),
	"PredictRequest",
);

const prediction = named(
	z.object({
		label: z.string(),
		probabilities: z.record(z.string(), z.number()),
	}),
	"Prediction",
);

/** `POST /predict` response. */
export const predictResponse = named(
	z.object({
		model: z.object({ name: z.string(), version: z.string() }),
		predictions: z.array(prediction),
	}),
	"PredictResponse",
);

/** Open Inference Protocol v2 inference request. */
export const inferRequest = named(
	z.object({
		id: z.optional(z.string()),
		parameters: z.optional(parameters),
		inputs: z
			.array(
				z.object({
					name: z.string(),
					shape: z.array(z.int().check(z.nonnegative())),
					datatype,
					parameters: z.optional(parameters),
					data: tensorData,
				}),
			)
			.check(z.minLength(1)),
		outputs: z.optional(
			z.array(
				z.object({ name: z.string(), parameters: z.optional(parameters) }),
			),
		),
	}),
	"InferenceRequest",
);

const responseOutput = z.object({
	name: z.string(),
	shape,
	datatype,
	parameters: z.optional(parameters),
	data: tensorData,
});

/** Open Inference Protocol v2 inference response. */
export const inferResponse = named(
	z.object({
		model_name: z.string(),
		model_version: z.optional(z.string()),
		id: z.optional(z.string()),
		parameters: z.optional(parameters),
		outputs: z.array(responseOutput),
	}),
	"InferenceResponse",
);

const metadataTensor = z.object({ name: z.string(), datatype, shape });

/** Open Inference Protocol v2 model metadata. */
export const modelMetadata = named(
	z.object({
		name: z.string(),
		versions: z.optional(z.array(z.string())),
		platform: z.string(),
		inputs: z.array(metadataTensor),
		outputs: z.array(metadataTensor),
	}),
	"ModelMetadata",
);

/** Open Inference Protocol v2 server metadata. */
export const serverMetadata = named(
	z.object({
		name: z.string(),
		version: z.string(),
		extensions: z.array(z.string()),
	}),
	"ServerMetadata",
);

export const liveBody = z.object({ live: z.boolean() });
export const readyBody = z.object({ ready: z.boolean() });
export const modelReadyBody = z.object({
	name: z.string(),
	ready: z.boolean(),
});

/** Repository index entry (Triton/MLServer model repository extension). */
export const repositoryIndex = named(
	z.array(
		z.object({
			name: z.string(),
			version: z.optional(z.string()),
			state: z.enum(["READY", "UNAVAILABLE"]),
			reason: z.string(),
		}),
	),
	"RepositoryIndex",
);

/** Optional body of a repository load. */
export const repositoryLoadRequest = named(
	z.object({
		parameters: z.optional(
			z.object({ keep_other_versions: z.optional(z.boolean()) }),
		),
	}),
	"RepositoryLoadRequest",
);

/** Optional body of `POST /v2/admin/drain`. */
export const drainRequest = named(
	z.object({
		timeout_ms: z.optional(
			described(
				z.int().check(z.nonnegative(), z.lte(3_600_000)),
				"Longest to wait for in-flight predictions; default 30000",
			),
		),
	}),
	"DrainRequest",
);

/** What a drain or a resume answers. */
export const drainResponse = named(
	z.object({
		draining: z.boolean(),
		in_flight: z.optional(
			described(
				z.int(),
				"Predictions still in flight (0 unless the drain timed out)",
			),
		),
	}),
	"DrainResponse",
);

export type PredictRequest = z.infer<typeof predictRequest>;
export type InferRequest = z.infer<typeof inferRequest>;
export type InferResponse = z.infer<typeof inferResponse>;
