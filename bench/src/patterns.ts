import { createHttpTarget } from "./targets/http.ts";
import {
	createContainerTarget,
	createServerlessTarget,
	createVmTarget,
} from "./targets/patterns-dynamic.ts";
import { createStaticTarget } from "./targets/static.ts";
import type { BenchTarget } from "./types.ts";

/** How the harness builds the targets of one pattern. */
export interface PatternEntry {
	/** Key in results.json, `--patterns` and the report's columns. */
	id: string;
	/** What one sees in the report. */
	title: string;
	/** Creates the pattern's target for a run. */
	create(options: { coldStartRuns: number }): BenchTarget;
}

/**
 * The patterns the harness knows, in report order: the one list the CLI, the runner, the report and the
 * claims read. Adding a pattern is adding its entry here.
 */
export const PATTERNS: readonly PatternEntry[] = [
	{
		id: "static",
		title: "static: the model inside the application",
		create: createStaticTarget,
	},
	{
		id: "http",
		title: "http: one server process",
		create: createHttpTarget,
	},
	{
		id: "vm",
		title: "vm: process-isolated instances behind the embedded balancer",
		create: createVmTarget,
	},
	{
		id: "container",
		title: "container: Docker containers behind the embedded balancer",
		create: createContainerTarget,
	},
	{
		id: "serverless",
		title: "serverless: AWS Lambda zip on the local function platform",
		create: createServerlessTarget,
	},
];

/** The ids of {@link PATTERNS}, in order. */
export const PATTERN_IDS: readonly string[] = PATTERNS.map((p) => p.id);

/** The registry entry of `id`, or undefined. */
export function findPattern(id: string): PatternEntry | undefined {
	return PATTERNS.find((p) => p.id === id);
}
