import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { BundleManifest } from "../bundle-manifest.ts";
import { CoreError } from "../errors.ts";
import { createFeatureExtractor } from "../extract-features.ts";
import type { GoldenCase } from "../golden.ts";
import { sha256Hex } from "../load-bundle.ts";
import { loadOnnxModel } from "../load-onnx-model.ts";
import { createPredictor } from "../predictor.ts";
import { writeBundle } from "../write-bundle.ts";
import { toOnnxBytes } from "./export-onnx.ts";
import {
	type CategoricalColumn,
	describeFeatures,
	type NumericColumn,
} from "./feature-stats.ts";
import { trainMlp } from "./mlp.ts";
import { createRandom, shuffledIndices } from "./random.ts";

/** The data set's own column names, so a row of `penguins.json` without `Species` is a valid record. */
const COLUMNS: readonly (NumericColumn | CategoricalColumn)[] = [
	{ name: "Island", kind: "categorical", missing: "error" },
	{ name: "Beak Length (mm)", kind: "numeric", missing: "impute-mean" },
	{ name: "Beak Depth (mm)", kind: "numeric", missing: "impute-mean" },
	{ name: "Flipper Length (mm)", kind: "numeric", missing: "impute-mean" },
	{ name: "Body Mass (g)", kind: "numeric", missing: "impute-mean" },
	// The data marks an unknown sex with null or "."; both are "missing", encoded as neither category.
	{ name: "Sex", kind: "categorical", missing: "zeros", naValues: ["."] },
];
const TARGET = "Species";
const SOURCE = "vega-datasets@3.2.1 data/penguins.json";
const HIDDEN = 16;
const EPOCHS = 400;

/** Options of {@link trainPenguins}. */
export interface TrainPenguinsOptions {
	/** Bundle folder to write (replaced atomically). */
	out: string;
	/** Seed of the split and the initialisation. */
	seed?: number;
}

/** What {@link trainPenguins} produced. */
export interface TrainPenguinsResult {
	manifest: BundleManifest;
	trainAccuracy: number;
	testAccuracy: number;
	goldenCases: number;
}

/**
 * Trains the reference penguins classifier from the `vega-datasets` package and writes its bundle with
 * `golden.jsonl`. Deterministic: the same seed gives a byte-identical bundle. Accuracy is measured through
 * onnxruntime on the exported model, the same path that serves it.
 */
export async function trainPenguins(
	options: TrainPenguinsOptions,
): Promise<TrainPenguinsResult> {
	const seed = options.seed ?? 20_201_104;
	const dataBytes = await readPenguinsData();
	const { rows, trainRows, testRows, trainIdx, testIdx } = splitPenguins(
		dataBytes,
		seed,
	);

	const features = describeFeatures(trainRows, COLUMNS);
	const labels = [...new Set(rows.map((r) => String(r[TARGET])))].sort();
	const extractor = createFeatureExtractor(features);
	const train = extractor.extract(trainRows);
	const y = Int32Array.from(trainRows, (r) =>
		labels.indexOf(String(r[TARGET])),
	);
	const mlp = trainMlp({
		x: train.data,
		y,
		columns: train.columns,
		classes: labels.length,
		hidden: HIDDEN,
		epochs: EPOCHS,
		learningRate: 0.01,
		weightDecay: 1e-4,
		random: createRandom(seed + 1),
	});
	const modelBytes = toOnnxBytes(mlp, {
		graphName: "penguins_mlp",
		inputName: "features",
		outputName: "probabilities",
		producerVersion: "0.1.0",
	});

	const draft = {
		schemaVersion: 1 as const,
		name: "penguins",
		version: "1.0.0",
		description:
			"Palmer penguins species from island, beak, flipper, body mass and sex (MLP 9-16-3).",
		features,
		target: { name: TARGET, labels },
		model: {
			file: "model.onnx" as const,
			format: "onnx" as const,
			sha256: sha256Hex(modelBytes),
			input: { name: "features", columns: train.columns },
			output: { name: "probabilities" },
		},
	};
	const model = await loadOnnxModel(modelBytes, {
		inputName: "features",
		outputName: "probabilities",
		columns: train.columns,
	});
	try {
		const predictor = createPredictor({
			manifest: { ...draft, training: placeholderTraining() },
			model,
		});
		const accuracy = async (subset: Record<string, unknown>[]) => {
			const predicted = await predictor.predict(subset);
			return (
				predicted.filter((p, i) => p.label === subset[i]?.[TARGET]).length /
				subset.length
			);
		};
		const trainAccuracy = await accuracy(trainRows);
		const testAccuracy = await accuracy(testRows);
		if (testAccuracy < 0.95) {
			throw new CoreError(
				"INVALID_ARGUMENT",
				`test accuracy ${testAccuracy.toFixed(4)} is below the 0.95 floor`,
			);
		}
		const goldenIdx = [
			...testIdx,
			...trainIdx.filter((i) => hasMissing(rows[i] as Record<string, unknown>)),
		].sort((a, b) => a - b);
		const goldenRecords = goldenIdx.map((i) =>
			withoutTarget(rows[i] as Record<string, unknown>),
		);
		const goldenPredictions = await predictor.predict(goldenRecords);
		const golden: GoldenCase[] = goldenIdx.map((i, j) => ({
			id: `penguins-${String(i).padStart(3, "0")}`,
			record: goldenRecords[j] as Record<string, unknown>,
			expected: goldenPredictions[j] as GoldenCase["expected"],
		}));
		const manifest = await writeBundle(options.out, {
			manifest: {
				...draft,
				training: {
					dataFingerprint: sha256Hex(dataBytes),
					source: SOURCE,
					algorithm: `MLP ${train.columns}-${HIDDEN}-${labels.length}, ReLU, softmax; full-batch Adam, ${EPOCHS} epochs, lr 0.01, L2 1e-4`,
					seed,
					rows: { train: trainRows.length, test: testRows.length },
					metrics: { trainAccuracy, testAccuracy },
				},
			},
			modelBytes,
			extraFiles: {
				"golden.jsonl": golden.map((g) => `${JSON.stringify(g)}\n`).join(""),
			},
		});
		return {
			manifest,
			trainAccuracy,
			testAccuracy,
			goldenCases: golden.length,
		};
	} finally {
		await model.close();
	}
}

export async function readPenguinsData(): Promise<Buffer> {
	let entry: string;
	try {
		entry = createRequire(import.meta.url).resolve("vega-datasets");
	} catch (error) {
		throw new CoreError(
			"INVALID_ARGUMENT",
			"training needs the vega-datasets package (a devDependency of @mdp/core)",
			{
				cause: error,
			},
		);
	}
	// The package exports only its JS entry; the data files sit in data/ beside build/.
	return readFile(join(dirname(entry), "..", "data", "penguins.json"));
}

/** The penguins rows and their train/test split (20% test) for a seed, as training makes it. */
export function splitPenguins(
	dataBytes: Uint8Array,
	seed: number,
): {
	rows: Record<string, unknown>[];
	trainRows: Record<string, unknown>[];
	testRows: Record<string, unknown>[];
	/** Row indices of each part, ascending. */
	trainIdx: number[];
	testIdx: number[];
} {
	const rows = JSON.parse(Buffer.from(dataBytes).toString("utf8")) as Record<
		string,
		unknown
	>[];
	const order = shuffledIndices(rows.length, createRandom(seed));
	const testCount = Math.round(rows.length * 0.2);
	const testIdx = order.slice(0, testCount).sort((a, b) => a - b);
	const trainIdx = order.slice(testCount).sort((a, b) => a - b);
	const pick = (indices: number[]) =>
		indices.map((i) => rows[i] as Record<string, unknown>);
	return {
		rows,
		trainRows: pick(trainIdx),
		testRows: pick(testIdx),
		trainIdx,
		testIdx,
	};
}

function hasMissing(row: Record<string, unknown>): boolean {
	return COLUMNS.some(
		(c) =>
			row[c.name] === null ||
			row[c.name] === undefined ||
			c.naValues?.includes(String(row[c.name])),
	);
}

function withoutTarget(row: Record<string, unknown>): Record<string, unknown> {
	const { [TARGET]: _target, ...record } = row;
	return record;
}

function placeholderTraining(): BundleManifest["training"] {
	return {
		dataFingerprint: "0".repeat(64),
		source: SOURCE,
		algorithm: "",
		seed: 0,
		rows: { train: 0, test: 0 },
		metrics: {},
	};
}
