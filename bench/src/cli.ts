import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { CoreError, referenceBundleDir, runCli } from "@mdp/core";
import {
	cleanupBenchmark,
	renderMarkdown,
	rerenderReport,
	runBenchmark,
	updateLatest,
	writeReport,
} from "./index.ts";
import { PATTERN_IDS } from "./patterns.ts";

const USAGE = `mdp-bench: deploys each pattern locally, drives load and compares them

Usage:
  mdp-bench run [--quick] [--patterns ${PATTERN_IDS.join(",")}] [--bundle DIR] [--slo-ms 50] [--out DIR]
                [--publish]
  mdp-bench report --from DIR          re-render report.md and report.html from DIR/results.json

run writes bench/reports/<timestamp>/ (results.json, report.md, report.html; git ignores it);
--publish also copies it to bench/reports/latest/, the report the repository keeps. The full run takes about 8 minutes on 2 cores; --quick about 1 minute.`;

const REPORTS = resolve(import.meta.dirname, "..", "reports");

async function main(argv: string[]): Promise<number> {
	const [command, ...rest] = argv;
	const { values } = parseArgs({
		args: rest,
		options: {
			quick: { type: "boolean" },
			publish: { type: "boolean" },
			patterns: { type: "string" },
			bundle: { type: "string", default: referenceBundleDir },
			"slo-ms": { type: "string", default: "50" },
			out: { type: "string", default: REPORTS },
			from: { type: "string" },
			help: { type: "boolean", short: "h" },
		},
	});
	if (command === undefined || values.help || command === "help") {
		console.log(USAGE);
		return command === undefined ? 2 : 0;
	}
	if (command === "report") {
		if (!values.from) throw usage("report needs --from DIR");
		await rerenderReport(values.from);
		console.error(
			`mdp-bench: re-rendered ${values.from}/report.md and report.html`,
		);
		return 0;
	}
	if (command !== "run") throw usage(`unknown command "${command}"`);
	const known = PATTERN_IDS;
	const patterns = values.patterns?.split(",").map((p) => p.trim());
	const unknown = patterns?.filter((p) => !known.includes(p)) ?? [];
	if (unknown.length)
		throw usage(
			`unknown pattern(s) ${unknown.join(", ")}; known: ${known.join(", ")}`,
		);
	const sloMs = Number(values["slo-ms"]);
	if (!(sloMs > 0))
		throw usage(
			`--slo-ms must be a positive number, got "${values["slo-ms"]}"`,
		);

	const started = Date.now();
	const results = await runBenchmark({
		quick: values.quick ?? false,
		patterns,
		bundle: resolve(values.bundle),
		sloMs,
		progress: (m) =>
			console.error(`[${formatElapsed(Date.now() - started)}] ${m}`),
	});
	const dir = resolve(values.out, results.startedAt.replace(/[:.]/g, "-"));
	await writeReport(dir, results);
	if (values.publish) await updateLatest(resolve(values.out), dir);
	console.log(renderMarkdown(results));
	console.error(
		`mdp-bench: wrote ${dir}${values.publish ? ` and ${resolve(values.out, "latest")}` : ""} in ${formatElapsed(Date.now() - started)}`,
	);
	return 0;
}

function formatElapsed(ms: number): string {
	const s = Math.round(ms / 1000);
	return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// Ctrl-C or a kill: tear down every server and temp dir this run started, then exit.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
	process.once(signal, () => {
		console.error(`mdp-bench: ${signal}: tearing down`);
		void cleanupBenchmark().finally(() => process.exit(130));
	});
}

runCli("mdp-bench", () => main(process.argv.slice(2)));

function usage(message: string): CoreError {
	return new CoreError("INVALID_ARGUMENT", message);
}
