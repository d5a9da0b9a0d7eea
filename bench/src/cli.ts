import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CoreError, referenceBundleDir, runCli } from "@mdp/core";
import { parseSize } from "@mdp/core/training";
import {
	advise,
	type ProviderPackageLimit,
	packageLimitLines,
	packageSizeLimits,
	parseDurationMs,
	parseRate,
	renderAdvice,
} from "./advise.ts";
import { agreeOnServer, cleanupAgreement, renderAgreement } from "./agree.ts";
import {
	cleanupBenchmark,
	renderMarkdown,
	rerenderReport,
	runBenchmark,
	updateLatest,
	writeReport,
} from "./index.ts";
import { readPrices } from "./measure/cost.ts";
import { PATTERN_IDS } from "./patterns.ts";
import { SWEEP_SIZES } from "./sweep.ts";
import type { BenchResults } from "./types.ts";

const USAGE = `mdp-bench: deploys each pattern locally, drives load and compares them

Usage:
  mdp-bench run [--quick] [--patterns ${PATTERN_IDS.join(",")}] [--bundle DIR] [--slo-ms 50] [--out DIR]
                [--publish] [--sweep-model-size 1MB,10MB,50MB,200MB | --sweep-model-size none]
  mdp-bench report --from DIR          re-render report.md and report.html from DIR/results.json
  mdp-bench advise --rate 50/s --p99 100ms [--model-size 200MB] [--offline] [--from DIR]
                                       rank the patterns for a workload from a run's figures
                                       (default: bench/reports/latest)
  mdp-bench agree [--slices 5] [--seconds 3] [--bundle DIR] [--out DIR]
                                       the embedded driver against wrk (and k6 if installed) and a raw
                                       socket on one mdp-core serve: a Markdown table on stdout;
                                       --out also writes agreement.json and agreement.md there

run writes bench/reports/<timestamp>/ (results.json, report.md, report.html; git ignores it);
--publish also copies it to bench/reports/latest/, the report the repository keeps. The full run (every pattern,
3 rounds, the 1-200 MB model-size sweep) takes about 30 minutes on 2 cores; --quick about 4 minutes.`;

const REPORTS = resolve(import.meta.dirname, "..", "reports");

async function main(argv: string[]): Promise<number> {
	const [command, ...rest] = argv;
	const { values } = parseArgs({
		args: rest,
		options: {
			quick: { type: "boolean" },
			publish: { type: "boolean" },
			"sweep-model-size": { type: "string" },
			patterns: { type: "string" },
			bundle: { type: "string", default: referenceBundleDir },
			"slo-ms": { type: "string", default: "50" },
			out: { type: "string" },
			slices: { type: "string", default: "5" },
			seconds: { type: "string", default: "3" },
			from: { type: "string" },
			rate: { type: "string" },
			p99: { type: "string" },
			"model-size": { type: "string" },
			offline: { type: "boolean" },
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
	if (command === "advise") {
		if (!values.rate || !values.p99)
			throw usage("advise needs --rate (e.g. 50/s) and --p99 (e.g. 100ms)");
		const from = resolve(values.from ?? join(REPORTS, "latest"));
		const results = JSON.parse(
			await readFile(join(from, "results.json"), "utf8"),
		) as BenchResults;
		const profile = {
			rateRps: parseRate(values.rate),
			p99Ms: parseDurationMs(values.p99),
			modelBytes: values["model-size"]
				? parseSize(values["model-size"])
				: undefined,
			offline: values.offline ?? false,
		};
		const table = await providerLimits();
		const advice = advise(results, profile, {
			prices: readPrices(),
			sizeLimits: packageSizeLimits(table, results),
		});
		console.log(
			renderAdvice(
				profile,
				advice,
				profile.modelBytes === undefined
					? []
					: packageLimitLines(profile.modelBytes, table, results),
			),
		);
		console.error(
			`mdp-bench: advice from ${from}/results.json (${results.startedAt})`,
		);
		return advice.some((a) => a.fits) ? 0 : 1;
	}
	if (command === "agree") {
		const slices = Number(values.slices);
		const seconds = Number(values.seconds);
		if (!Number.isInteger(slices) || slices < 1 || slices > 50)
			throw usage(
				`--slices must be a whole number from 1 to 50, got "${values.slices}"`,
			);
		if (!(seconds >= 1 && seconds <= 60))
			throw usage(
				`--seconds must be a number from 1 to 60, got "${values.seconds}"`,
			);
		const started = Date.now();
		const agreement = await agreeOnServer({
			bundle: resolve(values.bundle),
			slices,
			sliceS: seconds,
			progress: (m) =>
				console.error(`[${formatElapsed(Date.now() - started)}] ${m}`),
		});
		const markdown = renderAgreement(agreement);
		if (values.out) {
			const dir = resolve(values.out);
			await mkdir(dir, { recursive: true });
			await writeFile(
				join(dir, "agreement.json"),
				`${JSON.stringify(agreement, null, 2)}\n`,
			);
			await writeFile(join(dir, "agreement.md"), markdown);
			console.error(`mdp-bench: wrote ${dir}/agreement.json and agreement.md`);
		}
		console.log(markdown);
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
		sweepSizes: sweepSizes(values["sweep-model-size"], values.quick ?? false),
		progress: (m) =>
			console.error(`[${formatElapsed(Date.now() - started)}] ${m}`),
	});
	const out = values.out ?? REPORTS;
	const dir = resolve(out, results.startedAt.replace(/[:.]/g, "-"));
	await writeReport(dir, results);
	if (values.publish) await updateLatest(resolve(out), dir);
	console.log(renderMarkdown(results));
	console.error(
		`mdp-bench: wrote ${dir}${values.publish ? ` and ${resolve(out, "latest")}` : ""} in ${formatElapsed(Date.now() - started)}`,
	);
	return 0;
}

/** The sweep's model sizes: as given, the default sizes in a full run, none in a quick one or with `none`. */
function sweepSizes(text: string | undefined, quick: boolean): number[] {
	if (text === undefined) return quick ? [] : [...SWEEP_SIZES];
	if (text === "none") return [];
	return text.split(",").map((s) => parseSize(s.trim()));
}

/** The providers' package size limits: the serverless package's table (`SIZE_LIMITS`), one source of truth. */
async function providerLimits(): Promise<Record<string, ProviderPackageLimit>> {
	const { SIZE_LIMITS } = (await import(
		"@mdp/serverless"
	)) as typeof import("@mdp/serverless");
	return SIZE_LIMITS;
}

function formatElapsed(ms: number): string {
	const s = Math.round(ms / 1000);
	return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// Ctrl-C or a kill: tear down every server and temp dir this run started, then exit.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
	process.once(signal, () => {
		console.error(`mdp-bench: ${signal}: tearing down`);
		void Promise.all([cleanupBenchmark(), cleanupAgreement()]).finally(() =>
			process.exit(130),
		);
	});
}

runCli("mdp-bench", () => main(process.argv.slice(2)));

function usage(message: string): CoreError {
	return new CoreError("INVALID_ARGUMENT", message);
}
