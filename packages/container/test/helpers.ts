import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
	compareToGolden,
	type GoldenCase,
	type Prediction,
	referenceBundleDir,
} from "@mdp/core";
import { inject } from "vitest";
import type { EngineName } from "../src/engine.ts";

/** Label on every container and image a test run creates (cleanup finds them by it). */
export const RUN_LABEL = "org.mdp.test-run";

export interface TestEngineInfo {
	available: boolean;
	/** The reference model's image (version 1.0.0). */
	image: string;
	/** The same model as version 1.0.1. */
	imageV2: string;
	imageBytes?: number;
	baseBuilt?: boolean;
}

export interface TestRun {
	runId: string;
	/** The reference bundle relabelled 1.0.1 (same model, so the golden set still holds). */
	bundleV2: string;
	/** A folder for log files, removed with the run. */
	logDir: string;
	repository: string;
	engines: Partial<Record<EngineName, TestEngineInfo>>;
}

declare module "vitest" {
	export interface ProvidedContext {
		mdp: TestRun;
	}
}

/** What the global setup prepared, and whether tests on `engine` run (in CI a missing engine fails them). */
export function testEngine(engine: EngineName): TestEngineInfo & {
	run: TestRun;
	skip: boolean;
	labels: Record<string, string>;
	/** A fresh log file path inside the run's temp dir. */
	logFile(): string;
} {
	const run = inject("mdp");
	const info = run.engines[engine] ?? {
		available: false,
		image: "",
		imageV2: "",
	};
	return {
		...info,
		run,
		skip: !info.available && process.env.CI !== "true",
		labels: { [RUN_LABEL]: run.runId },
		logFile: () =>
			join(
				run.logDir,
				`${engine}-${Date.now()}-${Math.random().toString(36).slice(2)}.jsonl`,
			),
	};
}

/** The reference golden set. */
export function goldenCases(): GoldenCase[] {
	return readFileSync(join(referenceBundleDir, "golden.jsonl"), "utf8")
		.trim()
		.split("\n")
		.map((line) => JSON.parse(line) as GoldenCase);
}

/** One request's outcome under load. */
export interface Outcome {
	/** When the request was sent (performance.now()). */
	started: number;
	status: number;
	version?: string;
	ok: boolean;
	error?: string;
}

/**
 * Steady load: `workers` loops each sending one golden record at a time to `/predict` and checking the
 * answer, until `stop()` (bounded by `maxRequests` in all).
 */
export function startLoad(
	url: string,
	options: { workers?: number; maxRequests?: number; timeoutMs?: number } = {},
): { outcomes: Outcome[]; stop(): Promise<Outcome[]> } {
	const golden = goldenCases();
	const outcomes: Outcome[] = [];
	const maxRequests = options.maxRequests ?? 20_000;
	let stopped = false;
	const worker = async (w: number, n: number) => {
		for (let i = w; !stopped && outcomes.length < maxRequests; i += n) {
			const g = golden[i % golden.length] as GoldenCase;
			const started = performance.now();
			try {
				const res = await fetch(`${url}/predict`, {
					method: "POST",
					headers: { "content-type": "application/json" },
					body: JSON.stringify({ records: [g.record] }),
					signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
				});
				const body = (await res.json()) as {
					model?: { version: string };
					predictions?: Prediction[];
				};
				outcomes.push({
					started,
					status: res.status,
					version: body.model?.version,
					ok:
						res.status === 200 &&
						compareToGolden([g], body.predictions ?? []).length === 0,
				});
			} catch (error) {
				outcomes.push({ started, status: 0, ok: false, error: String(error) });
			}
		}
	};
	const n = options.workers ?? 8;
	const running = Array.from({ length: n }, (_, w) => worker(w, n));
	return {
		outcomes,
		async stop() {
			stopped = true;
			await Promise.all(running);
			return outcomes;
		},
	};
}

/** Polls `check` every 100 ms until it returns true, for at most `timeoutMs`. */
export async function waitFor(
	check: () => boolean | Promise<boolean>,
	timeoutMs: number,
	what: string,
): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!(await check())) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
