import { join } from "node:path";
import { CoreError } from "../errors.ts";
import { readGoldenSet } from "../golden.ts";
import { loadBundle } from "../load-bundle.ts";
import { loadBundleModel } from "../load-predictor.ts";
import { createPredictor } from "../predictor.ts";
import { writeBundle } from "../write-bundle.ts";
import { toOnnxBytes } from "./export-onnx.ts";
import { createRandomMlp } from "./mlp.ts";
import { createRandom } from "./random.ts";

/** Options of {@link synthesizeBundle}. */
export interface SynthesizeBundleOptions {
	/** Bundle folder to write. */
	out: string;
	/** Target size of `model.onnx` in bytes. */
	sizeBytes: number;
	/** Bundle whose features, labels and golden records are reused. */
	from: string;
	seed?: number;
}

/**
 * Writes a valid bundle of about `sizeBytes` with the same features and labels as `from`: an MLP with two
 * square hidden layers of random weights (its predictions mean nothing), so footprint and cold start can be
 * measured as the model grows. Its `golden.jsonl` holds the source's golden records with this model's outputs.
 */
export async function synthesizeBundle(
	options: SynthesizeBundleOptions,
): Promise<{ hidden: number; bytes: number }> {
	const source = await loadBundle(options.from);
	const { manifest } = source;
	const columns = manifest.model.input.columns;
	const classes = manifest.target.labels.length;
	// float32 parameters of columns→h→h→classes: h² + (columns + classes + 2)·h + classes.
	const b = columns + classes + 2;
	const params = Math.max(0, options.sizeBytes / 4 - classes);
	const hidden = Math.max(
		1,
		Math.round((-b + Math.sqrt(b * b + 4 * params)) / 2),
	);
	const mlp = createRandomMlp(
		[columns, hidden, hidden, classes],
		createRandom(options.seed ?? 1),
	);
	const modelBytes = toOnnxBytes(mlp, {
		graphName: `${manifest.name}_synthetic`,
		inputName: manifest.model.input.name,
		outputName: manifest.model.output.name,
		producerVersion: "0.1.0",
	});
	const name =
		`${manifest.name}-synth-${formatSize(modelBytes.byteLength)}`.toLowerCase();
	const draft = {
		...manifest,
		name,
		description: `Synthetic ${formatSize(modelBytes.byteLength)} model with ${manifest.name}'s features (random weights).`,
		training: {
			...manifest.training,
			algorithm: `synthetic MLP ${columns}-${hidden}-${hidden}-${classes} with random weights (seed ${options.seed ?? 1})`,
			metrics: {},
		},
	};
	const golden = await readGoldenSet(join(options.from, "golden.jsonl")).catch(
		() => [],
	);
	const model = await loadBundleModel({ manifest, modelBytes });
	try {
		const predictions = await createPredictor({
			manifest: draft,
			model,
		}).predict(golden.map((g) => g.record));
		const lines = golden.map(
			(g, i) =>
				`${JSON.stringify({ id: g.id, record: g.record, expected: predictions[i] })}\n`,
		);
		await writeBundle(options.out, {
			manifest: draft,
			modelBytes,
			extraFiles: { "golden.jsonl": lines.join("") },
		});
	} finally {
		await model.close();
	}
	return { hidden, bytes: modelBytes.byteLength };
}

const UNITS: Record<string, number> = {
	b: 1,
	kb: 1e3,
	mb: 1e6,
	gb: 1e9,
	kib: 2 ** 10,
	mib: 2 ** 20,
	gib: 2 ** 30,
};

/** Parses a size such as `50MB`, `1.5GiB` or `800kb` (KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024). */
export function parseSize(text: string): number {
	const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
	const factor = UNITS[(match?.[2] || "b").toLowerCase()];
	if (!match || factor === undefined) {
		throw new CoreError(
			"INVALID_ARGUMENT",
			`size "${text}" is not a number with a unit such as 500KB, 50MB, 1GiB`,
		);
	}
	return Math.round(Number(match[1]) * factor);
}

function formatSize(bytes: number): string {
	if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)}GB`;
	if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(0)}MB`;
	return `${(bytes / 1e3).toFixed(0)}KB`;
}
