import { createReadStream } from "node:fs";
import { parseArgs } from "node:util";
import {
	CoreError,
	compareToGolden,
	loadPredictor,
	type Predictor,
	predictJsonLines,
	readGoldenSet,
	referenceBundleDir,
	runCli,
} from "./index.ts";
import { parseServeArgs, SERVE_USAGE } from "./serve-args.ts";

const USAGE = `mdp-core: the shared ML system of model-deployment-patterns

Usage:
  mdp-core predict --bundle DIR [--input FILE]    JSON lines in (stdin or FILE), one prediction line out per line
  mdp-core verify  --bundle DIR [--golden FILE]   check the bundle reproduces its golden.jsonl exactly
  mdp-core train   [--out DIR] [--seed N]         train the reference penguins model and write its bundle
  mdp-core serve   ${SERVE_USAGE}
  mdp-core synth   --out DIR --size SIZE [--from DIR] [--seed N]
                                                  write a synthetic bundle of about SIZE (e.g. 500KB, 50MB)

An input line is a record ({"Island": "Biscoe", ...}) or an envelope {"id": "...", "record": {...}}.
Each output line is {"label", "probabilities"} (with the id, if any) or {"line", "error", "issues"}.
Exit codes: 0 all good, 1 some lines were rejected or a run failed, 2 bad usage.
--bundle defaults to the reference model (${referenceBundleDir}).`;

async function main(argv: string[]): Promise<number> {
	const [command, ...rest] = argv;
	if (command === "serve" && !rest.includes("--help") && !rest.includes("-h")) {
		const { serve } = await import("./cli-serve.ts");
		return serve(parseServeArgs(rest, referenceBundleDir));
	}
	const { values } = parseArgs({
		args: rest,
		options: {
			bundle: { type: "string", multiple: true },
			input: { type: "string" },
			golden: { type: "string" },
			out: { type: "string" },
			size: { type: "string" },
			from: { type: "string", default: referenceBundleDir },
			seed: { type: "string" },
			help: { type: "boolean", short: "h" },
		},
	});
	if (
		values.help ||
		command === undefined ||
		command === "help" ||
		command === "--help" ||
		command === "-h"
	) {
		console.log(USAGE);
		return command === undefined ? 2 : 0;
	}
	const bundle = values.bundle?.[0] ?? referenceBundleDir;
	const seed =
		values.seed === undefined ? undefined : Number.parseInt(values.seed, 10);
	if (seed !== undefined && !Number.isSafeInteger(seed))
		throw usage(`--seed must be an integer, got "${values.seed}"`);
	switch (command) {
		case "predict":
			return predict(await loadPredictor(bundle), values.input);
		case "verify":
			return verify(bundle, values.golden ?? `${bundle}/golden.jsonl`);
		case "train": {
			const { trainPenguins } = await import("./training/index.ts");
			const out = values.out ?? referenceBundleDir;
			const result = await trainPenguins({ out, seed });
			console.error(
				`trained ${result.manifest.name} ${result.manifest.version}: train accuracy ${pct(result.trainAccuracy)}, test accuracy ${pct(result.testAccuracy)}, ${result.goldenCases} golden cases → ${out}`,
			);
			return 0;
		}
		case "synth": {
			if (!values.out || !values.size)
				throw usage("synth needs --out DIR and --size SIZE");
			const { parseSize, synthesizeBundle } = await import(
				"./training/index.ts"
			);
			const { hidden, bytes } = await synthesizeBundle({
				out: values.out,
				sizeBytes: parseSize(values.size),
				from: values.from,
				seed,
			});
			console.error(
				`wrote ${values.out}: model.onnx ${bytes} bytes (hidden layers ${hidden}×${hidden})`,
			);
			return 0;
		}
		default:
			throw usage(`unknown command "${command}"`);
	}
}

async function predict(
	predictor: Predictor,
	input: string | undefined,
): Promise<number> {
	const { rejected } = await predictJsonLines(predictor, {
		input: input ? createReadStream(input) : process.stdin,
		output: process.stdout,
	});
	if (rejected > 0)
		console.error(
			`mdp-core predict: ${rejected} of the input lines were rejected (see their "error")`,
		);
	return rejected > 0 ? 1 : 0;
}

async function verify(bundle: string, goldenPath: string): Promise<number> {
	const predictor = await loadPredictor(bundle);
	const golden = await readGoldenSet(goldenPath);
	const mismatches = compareToGolden(
		golden,
		await predictor.predict(golden.map((g) => g.record)),
	);
	await predictor.close();
	for (const m of mismatches) {
		console.error(
			`${m.id}: expected ${JSON.stringify(m.expected)}, got ${JSON.stringify(m.actual)} (max |Δp| ${m.maxAbsDiff})`,
		);
	}
	console.log(
		`${golden.length - mismatches.length}/${golden.length} golden cases reproduced exactly (${goldenPath})`,
	);
	return mismatches.length === 0 ? 0 : 1;
}

function pct(x: number): string {
	return `${(x * 100).toFixed(2)}%`;
}

runCli("mdp-core", () => main(process.argv.slice(2)));

function usage(message: string): CoreError {
	return new CoreError("INVALID_ARGUMENT", message);
}
