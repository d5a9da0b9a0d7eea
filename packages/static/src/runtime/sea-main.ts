// The entry of the single executable (Node SEA). esbuild bundles it with @mdp/core and onnxruntime-node's
// JavaScript into one CommonJS file; the model and the native runtime are SEA assets.
import { createReadStream } from "node:fs";
import { basename } from "node:path";
import { getAsset } from "node:sea";
import { parseArgs } from "node:util";
import {
	CoreError,
	createBundlePredictor,
	parseManifestText,
	predictJsonLines,
	runCli,
	sha256Hex,
} from "@mdp/core";
import { loadNativeBinding } from "./native-runtime.ts";

const USAGE = (
	name: string,
	version: string,
) => `${name} ${version}: predicts with a model compiled into this executable.

Usage:
  <executable> [--input FILE] < records.jsonl > predictions.jsonl
  <executable> --info | --help

Each input line is a record ({"Island": "Biscoe", ...}) or {"id": "...", "record": {...}}; each output line
is {"label", "probabilities"} (with the id) or {"line", "error", "issues"} for a line that cannot be predicted.
Exit codes: 0 all predicted, 1 some lines rejected or a failure, 2 bad usage.
Runs offline; writes only the native runtime to its cache folder ($MDP_CACHE_DIR, default ~/.cache/mdp).`;

/**
 * Start-up phases in ms since the process started (performance.now()'s origin), printed as one JSON line
 * on stderr when MDP_STARTUP_PHASES=1 (what a cold start is made of), followed at exit by the run's CPU
 * seconds and peak memory.
 */
const phases: Record<string, number> = { script: performance.now() };

async function main(): Promise<number> {
	// Before onnxruntime's native binding loads: its Linux build otherwise writes telemetry and looks up hosts.
	process.env.ORT_DISABLE_TELEMETRY = "1";
	const manifest = parseManifestText(
		Buffer.from(getAsset("mdp.json")).toString("utf8"),
		"embedded mdp.json",
	);
	const { values } = parseArgs({
		options: {
			input: { type: "string" },
			info: { type: "boolean" },
			help: { type: "boolean", short: "h" },
		},
	});
	if (values.help) {
		console.log(USAGE(manifest.name, manifest.version));
		return 0;
	}
	if (values.info) {
		console.log(
			JSON.stringify({
				name: manifest.name,
				version: manifest.version,
				features: manifest.features.map((f) => f.name),
				labels: manifest.target.labels,
			}),
		);
		return 0;
	}
	const modelBytes = new Uint8Array(getAsset("model.onnx"));
	if (sha256Hex(modelBytes) !== manifest.model.sha256)
		throw new CoreError(
			"INVALID_BUNDLE",
			"embedded model.onnx does not match its manifest",
		);
	(globalThis as { __ORT_NATIVE_BINDING__?: unknown }).__ORT_NATIVE_BINDING__ =
		loadNativeBinding(getAsset);
	phases.runtime = performance.now();
	const predictor = await createBundlePredictor({ manifest, modelBytes });
	phases.session = performance.now();
	const input = values.input ? createReadStream(values.input) : process.stdin;
	const { rejected } = await predictJsonLines(predictor, {
		input,
		output: process.stdout,
		onFirstOutput: () => {
			phases.firstPrediction = performance.now();
			if (process.env.MDP_STARTUP_PHASES === "1")
				console.error(JSON.stringify({ phases }));
		},
	});
	await predictor.close();
	if (process.env.MDP_STARTUP_PHASES === "1") {
		// The whole run's cost, for footprint measurements: CPU seconds and peak resident memory.
		const usage = process.resourceUsage();
		console.error(
			JSON.stringify({
				usage: {
					cpu_s: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
					max_rss_mb: usage.maxRSS / 1024,
				},
			}),
		);
	}
	if (rejected > 0)
		console.error(`${rejected} input line(s) rejected (see their "error")`);
	return rejected > 0 ? 1 : 0;
}

runCli(basename(process.execPath), main);
