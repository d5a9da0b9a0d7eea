// Predictor overhead against raw onnxruntime `session.run` on the same model and tensor, batch 1 and 32,
// beside the model seam alone (`loadOnnxModel`'s run: the native session called directly).
// Not a timed test: a benchmark to run by hand (`pnpm -F @mdp/core bench`). Variants are interleaved over
// rounds in rotating order so drift on a noisy machine is not blamed on one of them; medians are reported.
import { join } from "node:path";
import {
	loadBundle,
	loadOnnxModel,
	loadOnnxRuntime,
	loadPredictor,
	readGoldenSet,
	referenceBundleDir,
} from "../src/index.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const ITERATIONS = Number(process.env.ITERATIONS ?? 5000);

const ort = await loadOnnxRuntime();
const { manifest, modelBytes } = await loadBundle(referenceBundleDir);
const session = await ort.InferenceSession.create(modelBytes, {
	intraOpNumThreads: 1,
	interOpNumThreads: 1,
});
const predictor = await loadPredictor(referenceBundleDir);
const columns = manifest.model.input.columns;
const model = await loadOnnxModel(modelBytes, {
	inputName: manifest.model.input.name,
	outputName: manifest.model.output.name,
	columns,
});
if (!model.direct)
	throw new Error("the direct path to the native session is not available");
const golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
const records = golden.map((g) => g.record);

type Variant = { name: string; batch: number; call: () => Promise<unknown> };
const variants: Variant[] = [];
for (const batch of [1, 32]) {
	const chosen = Array.from(
		{ length: batch },
		(_, i) => records[i % records.length],
	);
	const prepared = predictor.extractor.extract(chosen);
	const tensor = new ort.Tensor("float32", prepared.data, [batch, columns]);
	const feeds = { [manifest.model.input.name]: tensor };
	variants.push({
		name: "raw session.run",
		batch,
		call: () => session.run(feeds),
	});
	variants.push({
		name: "model.run (native session)",
		batch,
		call: () => model.run(prepared),
	});
	variants.push({
		name: "predictor.predict",
		batch,
		call: () => predictor.predict(chosen),
	});
}

const samples = new Map<
	Variant,
	{ p50: number[]; p99: number[]; rps: number[] }
>();
for (const v of variants) samples.set(v, { p50: [], p99: [], rps: [] });
for (const v of variants) for (let i = 0; i < 500; i++) await v.call(); // warm-up

for (let round = 0; round < ROUNDS; round++) {
	const order = variants.map(
		(_, i) => variants[(i + round) % variants.length] as Variant,
	);
	for (const v of order) {
		const times = new Float64Array(ITERATIONS);
		const start = process.hrtime.bigint();
		for (let i = 0; i < ITERATIONS; i++) {
			const t0 = process.hrtime.bigint();
			await v.call();
			times[i] = Number(process.hrtime.bigint() - t0) / 1e3;
		}
		const seconds = Number(process.hrtime.bigint() - start) / 1e9;
		times.sort();
		const s = samples.get(v);
		s?.p50.push(times[Math.floor(ITERATIONS * 0.5)] as number);
		s?.p99.push(times[Math.floor(ITERATIONS * 0.99)] as number);
		s?.rps.push(ITERATIONS / seconds);
	}
	process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
}

const median = (xs: number[]) =>
	[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
console.log(
	`\nPredictor overhead, ${ROUNDS} rounds × ${ITERATIONS} calls, median of rounds (Node ${process.version})\n`,
);
console.log(
	"| batch | variant | p50 µs | p99 µs | calls/s | p50 ratio to raw |",
);
console.log("|---|---|---|---|---|---|");
for (const batch of [1, 32]) {
	const raw = variants.find(
		(v) => v.batch === batch && v.name === "raw session.run",
	) as Variant;
	const rawP50 = median(samples.get(raw)?.p50 ?? []);
	for (const v of variants.filter((x) => x.batch === batch)) {
		const s = samples.get(v) ?? { p50: [], p99: [], rps: [] };
		const p50 = median(s.p50);
		console.log(
			`| ${batch} | ${v.name} | ${p50.toFixed(1)} | ${median(s.p99).toFixed(1)} | ${Math.round(median(s.rps))} | ${(p50 / rawP50).toFixed(3)} |`,
		);
	}
}
await predictor.close();
await model.close();
await session.release();
