#!/usr/bin/env node
// `pnpm test`: lint, then every package's typecheck and tests through turbo, then one totals line.
// The totals come from each package's vitest JSON report (turbo restores it on a cache hit), so the
// last line is always `N passed, N failed[, N skipped]`, the line CI reads.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const packageDirs = [
	...readdirSync(join(root, "packages")).map((d) => join(root, "packages", d)),
	join(root, "bench"),
	...readdirSync(join(root, "tests")).map((d) => join(root, "tests", d)),
];
const reports = packageDirs.map((d) => join(d, ".test-results", "vitest.json"));
for (const report of reports) rmSync(report, { force: true });

// turbo phones home for telemetry and update checks unless told not to; this machine has no internet.
const env = {
	...process.env,
	TURBO_TELEMETRY_DISABLED: "1",
	TURBO_NO_UPDATE_NOTIFIER: "1",
	DO_NOT_TRACK: "1",
};
const run = (command, args) =>
	spawnSync(command, args, { cwd: root, stdio: "inherit", env }).status ?? 1;
let status = run("pnpm", ["exec", "biome", "ci", "."]);
const extra = process.argv.slice(2);
status =
	run("pnpm", [
		"exec",
		"turbo",
		"run",
		"typecheck",
		"test",
		"--output-logs=new-only",
		"--continue",
		"--concurrency=1",
		...extra,
	]) || status;

const totals = { passed: 0, failed: 0, skipped: 0 };
for (const report of reports.filter((r) => existsSync(r))) {
	const result = JSON.parse(readFileSync(report, "utf8"));
	totals.passed += result.numPassedTests;
	totals.failed += result.numFailedTests;
	totals.skipped += result.numPendingTests + result.numTodoTests;
}
if (status !== 0 && totals.failed === 0) totals.failed = 1; // a lint, type or runner failure counts as one
const skipped = totals.skipped ? `, ${totals.skipped} skipped` : "";
console.log(`${totals.passed} passed, ${totals.failed} failed${skipped}`);
process.exit(status);
