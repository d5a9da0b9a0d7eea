import { z } from "zod";

// The request and response schemas of the HTTP app. Requests are validated with them and the OpenAPI
// document is generated from them, so the two cannot drift apart.

const datatype = z.enum([
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
]);
const parameters = z.record(
	z.string(),
	z.union([z.string(), z.number(), z.boolean()]),
);
type TensorData = (number | string | boolean | null | TensorData)[];
const tensorData: z.ZodType<TensorData> = z.lazy(() =>
	z.array(z.union([z.number(), z.string(), z.boolean(), z.null(), tensorData])),
);

/** An error body: what went wrong, and for bad records the field-level issues. */
export const errorBody = z
	.object({
		error: z.string(),
		issues: z
			.array(
				z.object({
					record: z.number().int(),
					field: z.string(),
					expected: z.string(),
					got: z.string(),
					message: z.string(),
				}),
			)
			.optional(),
	})
	.meta({ id: "Error" });

/** `POST /predict` body. */
export const predictRequest = z
	.object({
		model: z
			.string()
			.optional()
			.describe("Model name; the default model when absent"),
		version: z
			.string()
			.optional()
			.describe("Model version; the model's default version when absent"),
		records: z
			.array(z.record(z.string(), z.unknown()))
			.describe(
				"Records: objects of feature name → value (number, string, or null for missing)",
			),
	})
	.meta({ id: "PredictRequest" });

const prediction = z
	.object({
		label: z.string(),
		probabilities: z.record(z.string(), z.number()),
	})
	.meta({ id: "Prediction" });

/** `POST /predict` response. */
export const predictResponse = z
	.object({
		model: z.object({ name: z.string(), version: z.string() }),
		predictions: z.array(prediction),
	})
	.meta({ id: "PredictResponse" });

/** Open Inference Protocol v2 inference request. */
export const inferRequest = z
	.object({
		id: z.string().optional(),
		parameters: parameters.optional(),
		inputs: z
			.array(
				z.object({
					name: z.string(),
					shape: z.array(z.number().int().nonnegative()),
					datatype,
					parameters: parameters.optional(),
					data: tensorData,
				}),
			)
			.min(1),
		outputs: z
			.array(z.object({ name: z.string(), parameters: parameters.optional() }))
			.optional(),
	})
	.meta({ id: "InferenceRequest" });

const responseOutput = z.object({
	name: z.string(),
	shape: z.array(z.number().int()),
	datatype,
	parameters: parameters.optional(),
	data: tensorData,
});

/** Open Inference Protocol v2 inference response. */
export const inferResponse = z
	.object({
		model_name: z.string(),
		model_version: z.string().optional(),
		id: z.string().optional(),
		parameters: parameters.optional(),
		outputs: z.array(responseOutput),
	})
	.meta({ id: "InferenceResponse" });

const metadataTensor = z.object({
	name: z.string(),
	datatype,
	shape: z.array(z.number().int()),
});

/** Open Inference Protocol v2 model metadata. */
export const modelMetadata = z
	.object({
		name: z.string(),
		versions: z.array(z.string()).optional(),
		platform: z.string(),
		inputs: z.array(metadataTensor),
		outputs: z.array(metadataTensor),
	})
	.meta({ id: "ModelMetadata" });

/** Open Inference Protocol v2 server metadata. */
export const serverMetadata = z
	.object({
		name: z.string(),
		version: z.string(),
		extensions: z.array(z.string()),
	})
	.meta({ id: "ServerMetadata" });

export const liveBody = z.object({ live: z.boolean() });
export const readyBody = z.object({ ready: z.boolean() });
export const modelReadyBody = z.object({
	name: z.string(),
	ready: z.boolean(),
});

/** Repository index entry (Triton/MLServer model repository extension). */
export const repositoryIndex = z
	.array(
		z.object({
			name: z.string(),
			version: z.string().optional(),
			state: z.enum(["READY", "UNAVAILABLE"]),
			reason: z.string(),
		}),
	)
	.meta({ id: "RepositoryIndex" });

/** Optional body of a repository load. */
export const repositoryLoadRequest = z
	.object({
		parameters: z
			.object({ keep_other_versions: z.boolean().optional() })
			.optional(),
	})
	.meta({ id: "RepositoryLoadRequest" });

export type PredictRequest = z.infer<typeof predictRequest>;
export type InferRequest = z.infer<typeof inferRequest>;
export type InferResponse = z.infer<typeof inferResponse>;
