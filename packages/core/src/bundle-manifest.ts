import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";

// `zod/mini` keeps the serving bundle small but ships no messages: use zod's English ones.
z.config(en());

const int = () => z.number().check(z.int());
const count = () => z.int().check(z.nonnegative());
const nonEmpty = () => z.string().check(z.minLength(1));

const histogram = z.object({
	/** Bin edges, ascending; `counts[i]` counts values in [edges[i], edges[i+1]). */
	edges: z.array(z.number()).check(z.minLength(2)),
	counts: z.array(count()),
});

const naValues = z
	._default(z.array(z.string()), [])
	.register(z.globalRegistry, {
		description:
			"Strings that the data source uses for a missing value (treated like null).",
	});

const numericFeature = z.object({
	name: nonEmpty(),
	kind: z.literal("numeric"),
	/** Standardisation: x → (x − mean) / std. */
	mean: z.number(),
	std: z.number().check(z.positive()),
	missing: z.discriminatedUnion("strategy", [
		z.object({ strategy: z.literal("error") }),
		z.object({ strategy: z.literal("impute"), value: z.number() }),
	]),
	naValues,
	stats: z.object({
		count: count(),
		missing: count(),
		min: z.number(),
		max: z.number(),
		histogram,
	}),
});

const categoricalFeature = z.object({
	name: nonEmpty(),
	kind: z.literal("categorical"),
	/** One-hot columns, in this order. */
	categories: z.array(z.string()).check(z.minLength(1)),
	missing: z.discriminatedUnion("strategy", [
		z.object({ strategy: z.literal("error") }),
		z.object({ strategy: z.literal("impute"), value: z.string() }),
		/** Encode a missing value as all-zero one-hot columns ("none of the categories"). */
		z.object({ strategy: z.literal("zeros") }),
	]),
	naValues,
	stats: z.object({
		count: count(),
		missing: count(),
		frequencies: z.record(z.string(), count()),
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
			.check(
				z.regex(
					/^[a-z0-9][a-z0-9._-]*$/,
					"lower-case letters, digits, '.', '_' or '-'",
				),
			),
		version: z
			.string()
			.check(
				z.regex(
					/^[A-Za-z0-9][A-Za-z0-9._+-]*$/,
					"letters, digits, '.', '_', '+' or '-'",
				),
			),
		description: z._default(z.string(), ""),
		features: z.array(feature).check(z.minLength(1)),
		/** What the model predicts: the target column's name and its values, in output order. */
		target: z.object({
			name: nonEmpty(),
			labels: z.array(z.string()).check(z.minLength(2)),
		}),
		model: z.object({
			file: z.literal("model.onnx"),
			format: z.literal("onnx"),
			sha256: z
				.string()
				.check(z.regex(/^[0-9a-f]{64}$/, "64 lower-case hex digits")),
			/** ONNX graph input: float32 [N, columns]. */
			input: z.object({
				name: nonEmpty(),
				columns: z.int().check(z.positive()),
			}),
			/** ONNX graph output: float32 [N, labels] of class probabilities. */
			output: z.object({ name: nonEmpty() }),
		}),
		training: z.object({
			/** sha256 of the training data as read, so drift checks know what "training" means. */
			dataFingerprint: z.string().check(z.regex(/^[0-9a-f]{64}$/)),
			source: z.string(),
			algorithm: z.string(),
			seed: int(),
			rows: z.object({ train: int(), test: int() }),
			metrics: z.record(z.string(), z.number()),
		}),
	})
	.check(
		z.superRefine((manifest, ctx) => {
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
		}),
	);

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
