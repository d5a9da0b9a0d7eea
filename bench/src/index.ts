/**
 * @module @mdp/bench
 * The harness that deploys every pattern locally, drives load, and compares them: `runBenchmark` measures,
 * `renderMarkdown` and `renderHtml` report, separately, so stored results can be re-rendered.
 *
 * @example
 * import { renderMarkdown, runBenchmark } from "@mdp/bench";
 * const results = await runBenchmark({ quick: true, bundle: "packages/core/models/penguins" });
 * console.log(renderMarkdown(results));
 */

// ---- Measuring ----
export { cleanupBenchmark, runBenchmark } from "./run-benchmark.ts";
export type { RunBenchmarkOptions } from "./run-benchmark.ts";
export { arrivalTimes, runScenario } from "./load/embedded-driver.ts";
export type { DriverRun, Send } from "./load/embedded-driver.ts";
export { DEFAULT_SLO_MS, SCENARIOS } from "./scenarios.ts";
export { measureKillUnderLoad } from "./faults.ts";
export type { KillUnderLoadOptions } from "./faults.ts";

// ---- The driver against other clients ----
export {
	agreeOnServer,
	measureDriverFloor,
	renderAgreement,
	runAgreement,
} from "./agree.ts";
export { runReferenceClient } from "./load/reference-client.ts";
export type { ReferenceRun } from "./load/reference-client.ts";
export { findWrk, runWrk } from "./load/run-wrk.ts";
export type { WrkRun } from "./load/run-wrk.ts";

// ---- Advice ----
export {
	advise,
	packageLimitLines,
	packageSizeLimits,
	renderAdvice,
} from "./advise.ts";
export type {
	Advice,
	AdviseOptions,
	Profile,
	ProviderPackageLimit,
	SizeLimit,
} from "./advise.ts";

// ---- Summarising and reporting (pure) ----
export { capacityUnderSlo, summarizeLatency, toStat } from "./summarize.ts";
export { checkClaims } from "./claims.ts";
export type { Claim } from "./claims.ts";
export {
	comparisonRows,
	describeFloor,
	faultRows,
	formatStat,
	renderMarkdown,
} from "./render-report.ts";
export { chartData, renderHtml, toSvg } from "./render-html.ts";
export { rerenderReport, updateLatest, writeReport } from "./write-report.ts";

// ---- Types ----
export type {
	Agreement,
	AgreementRow,
	BenchResults,
	BenchTarget,
	DeployedTarget,
	DriverFloor,
	Endpoint,
	FleetUnderTest,
	KillUnderLoadResult,
	LoadResult,
	Scenario,
	TargetContext,
	TargetResult,
} from "./types.ts";
