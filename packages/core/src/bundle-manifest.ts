import { z } from "zod";

const histogram = z.object({
	/** Bin edges, ascending; `counts[i]` counts values in [edges[i], edges[i+1]). */
	edges: z.array(z.number()).min(2),
	counts: z.array(z.number().int().nonnegative()),
});

const naValues = z
	.array(z.string())
	.default([])
	.describe(
		"Strings that the data source uses for a missing value (treated like null).",
	);

const numericFeature = z.object({
	name: z.string().min(1),
	kind: z.literal("numeric"),
	/** Standardisation: x → (x − mean) / std. */
	mean: z.number(),
	std: z.number().positive(),
	missing: z.discriminatedUnion("strategy", [
		z.object({ strategy: z.literal("error") }),
		z.object({ strategy: z.literal("impute"), value: z.number() }),
	]),
	naValues,
	stats: z.object({
		count: z.number().int().nonnegative(),
		missing: z.number().int().nonnegative(),
		min: z.number(),
		max: z.number(),
		histogram,
	}),
});

const categoricalFeature = z.object({
	name: z.string().min(1),
	kind: z.literal("categorical"),
	/** One-hot columns, in this order. */
	categories: z.array(z.string()).min(1),
	missing: z.discriminatedUnion("strategy", [
		z.object({ strategy: z.literal("error") }),
		z.object({ strategy: z.literal("impute"), value: z.string() }),
		/** Encode a missing value as all-zero one-hot columns ("none of the categories"). */
		z.object({ strategy: z.literal("zeros") }),
	]),
	naValues,
	stats: z.object({
		count: z.number().int().nonnegative(),
		missing: z.number().int().nonnegative(),
		frequencies: z.record(z.string(), z.number().int().nonnegative()),
	}),
});

const feature = z.discriminatedUnion("kind", [
	numericFeature,
	categoricalFeature,
]);

/** The schema of `mdp.json`, the manifest of a model bundle. */
export const bundleManifestSchema = z
	.object({
		schemaVersion: z.literal(1),
		name: z
			.string()
			.regex(
				/^[a-z0-9][a-z0-9._-]*$/,
				"lower-case letters, digits, '.', '_' or '-'",
			),
		version: z
			.string()
			.regex(
				/^[A-Za-z0-9][A-Za-z0-9._+-]*$/,
				"letters, digits, '.', '_', '+' or '-'",
			),
		description: z.string().default(""),
		features: z.array(feature).min(1),
		/** What the model predicts: the target column's name and its values, in output order. */
		target: z.object({
			name: z.string().min(1),
			labels: z.array(z.string()).min(2),
		}),
		model: z.object({
			file: z.literal("model.onnx"),
			format: z.literal("onnx"),
			sha256: z.string().regex(/^[0-9a-f]{64}$/, "64 lower-case hex digits"),
			/** ONNX graph input: float32 [N, columns]. */
			input: z.object({
				name: z.string().min(1),
				columns: z.number().int().positive(),
			}),
			/** ONNX graph output: float32 [N, labels] of class probabilities. */
			output: z.object({ name: z.string().min(1) }),
		}),
		training: z.object({
			/** sha256 of the training data as read, so drift checks know what "training" means. */
			dataFingerprint: z.string().regex(/^[0-9a-f]{64}$/),
			source: z.string(),
			algorithm: z.string(),
			seed: z.number().int(),
			rows: z.object({ train: z.number().int(), test: z.number().int() }),
			metrics: z.record(z.string(), z.number()),
		}),
	})
	.superRefine((manifest, ctx) => {
		const names = new Set<string>();
		for (const [index, f] of manifest.features.entries()) {
			if (names.has(f.name)) {
				ctx.addIssue({
					code: "custom",
					path: ["features", index, "name"],
					message: `duplicate feature "${f.name}"`,
				});
			}
			names.add(f.name);
			if (f.kind !== "categorical") continue;
			if (new Set(f.categories).size !== f.categories.length) {
				ctx.addIssue({
					code: "custom",
					path: ["features", index, "categories"],
					message: "duplicate category",
				});
			}
			if (
				f.missing.strategy === "impute" &&
				!f.categories.includes(f.missing.value)
			) {
				ctx.addIssue({
					code: "custom",
					path: ["features", index, "missing", "value"],
					message: `"${f.missing.value}" is not one of the categories`,
				});
			}
		}
		if (
			new Set(manifest.target.labels).size !== manifest.target.labels.length
		) {
			ctx.addIssue({
				code: "custom",
				path: ["target", "labels"],
				message: "duplicate label",
			});
		}
		const columns = manifest.features.reduce(
			(n, f) => n + (f.kind === "numeric" ? 1 : f.categories.length),
			0,
		);
		if (manifest.model.input.columns !== columns) {
			ctx.addIssue({
				code: "custom",
				path: ["model", "input", "columns"],
				message: `the features make ${columns} columns, the model declares ${manifest.model.input.columns}`,
			});
		}
	});

/** The manifest of a model bundle (`mdp.json`), validated. */
export type BundleManifest = z.infer<typeof bundleManifestSchema>;
/** The spec of one input feature. */
export type FeatureSpec = BundleManifest["features"][number];
/** A numeric feature: standardised. */
export type NumericFeatureSpec = Extract<FeatureSpec, { kind: "numeric" }>;
/** A categorical feature: one-hot encoded. */
export type CategoricalFeatureSpec = Extract<
	FeatureSpec,
	{ kind: "categorical" }
>;
/** The manifest as written to disk, before defaults are applied. */
export type BundleManifestInput = z.input<typeof bundleManifestSchema>;

/** Parses an `mdp.json` value; throws the zod error, which {@link loadBundle} turns into a `CoreError`. */
export function parseBundleManifest(value: unknown): BundleManifest {
	return bundleManifestSchema.parse(value);
}
