import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { which } from "../measure/offline.ts";
import { childCpuSeconds } from "./run-k6.ts";

/** What one wrk run measured (wrk's own figures: closed loop, latency from its send of each request). */
export interface WrkRun {
	requests: number;
	/** Socket errors (connect, read, write, timeout) and non-2xx/3xx answers. */
	errors: number;
	rps: number;
	p50_ms: number;
	p90_ms: number;
	p99_ms: number;
	/** CPU seconds wrk used (user + system), from bash's `times`. */
	cpu_s: number;
	elapsedS: number;
}

/** The wrk binary on PATH, or undefined. */
export function findWrk(): string | undefined {
	return which("wrk");
}

/** A Lua string literal holding `text` byte for byte (every byte outside printable ASCII as `\ddd`). */
export function luaString(text: string): string {
	let out = '"';
	for (const byte of Buffer.from(text)) {
		const c = String.fromCharCode(byte);
		out +=
			byte >= 0x20 && byte < 0x7f && c !== '"' && c !== "\\"
				? c
				: `\\${byte.toString().padStart(3, "0")}`;
	}
	return `${out}"`;
}

/**
 * The wrk script: POSTs `bodies` in turn as JSON, optionally waits `delayMs` after each answer on a
 * connection (wrk's `delay()`, a think time: a paced closed loop, wrk has no arrival rate), and prints one
 * machine-readable line from `done()` with wrk's summary and latency percentiles (µs).
 */
export function wrkScript(
	path: string,
	bodies: readonly string[],
	delayMs?: number,
): string {
	return [
		`local bodies = { ${bodies.map(luaString).join(", ")} }`,
		"local n = 0",
		'local headers = { ["Content-Type"] = "application/json" }',
		"request = function()",
		"  n = n + 1",
		`  return wrk.format("POST", ${luaString(path)}, headers, bodies[(n % #bodies) + 1])`,
		"end",
		...(delayMs === undefined
			? []
			: [`function delay() return ${Math.max(0, Math.round(delayMs))} end`]),
		"done = function(summary, latency, requests)",
		"  local e = summary.errors",
		'  io.write(string.format("MDP-WRK %.0f %.0f %.0f %.0f %.0f %.0f %.0f\\n", summary.requests, summary.duration,',
		"    e.connect + e.read + e.write + e.timeout, e.status,",
		"    latency:percentile(50), latency:percentile(90), latency:percentile(99)))",
		"end",
		"",
	].join("\n");
}

/** Reads the `MDP-WRK` line the script prints; undefined when wrk printed none. */
export function parseWrkLine(
	stdout: string,
): Omit<WrkRun, "cpu_s"> | undefined {
	const line = /^MDP-WRK ([\d ]+)$/m.exec(stdout)?.[1];
	if (!line) return undefined;
	const [requests, durationUs, socketErrors, statusErrors, p50, p90, p99] = line
		.trim()
		.split(" ")
		.map(Number) as number[];
	const elapsedS = (durationUs as number) / 1e6;
	const errors = (socketErrors as number) + (statusErrors as number);
	return {
		requests: requests as number,
		errors,
		rps: ((requests as number) - errors) / elapsedS,
		p50_ms: (p50 as number) / 1000,
		p90_ms: (p90 as number) / 1000,
		p99_ms: (p99 as number) / 1000,
		elapsedS,
	};
}

/**
 * Runs wrk (one thread, `connections` keep-alive connections, `durationS` seconds) against `url`, POSTing
 * `bodies` in turn, through bash so its CPU is measured like k6's; `delayMs` paces each connection (a
 * think time after each answer). wrk inherits this process's CPU affinity (the harness's driver core).
 *
 * @example
 * const run = await runWrk({ wrk: "wrk", url: `${server.url}/predict`, bodies, connections: 32, durationS: 5 });
 * run.rps; run.p99_ms;
 */
export async function runWrk(options: {
	wrk: string;
	url: string;
	bodies: readonly string[];
	connections: number;
	durationS: number;
	delayMs?: number;
}): Promise<WrkRun> {
	const target = new URL(options.url);
	const dir = await mkdtemp(join(tmpdir(), "mdp-wrk-"));
	try {
		const script = join(dir, "post.lua");
		await writeFile(
			script,
			wrkScript(
				`${target.pathname}${target.search}`,
				options.bodies,
				options.delayMs,
			),
		);
		const duration = Math.max(1, Math.round(options.durationS));
		const { code, stdout, stderr } = await new Promise<{
			code: number | null;
			stdout: string;
			stderr: string;
		}>((resolve, reject) => {
			const child = spawn(
				"bash",
				[
					"-c",
					'"$@"; status=$?; times >&2; exit $status',
					"wrk",
					options.wrk,
					"-t1",
					`-c${options.connections}`,
					`-d${duration}s`,
					"--timeout",
					"10s",
					"-s",
					script,
					target.origin,
				],
				{ stdio: ["ignore", "pipe", "pipe"] },
			);
			let stdout = "";
			let stderr = "";
			child.stdout.on("data", (c) => {
				stdout += c;
			});
			child.stderr.on("data", (c) => {
				stderr += c;
			});
			// Bounded: wrk stops itself after the duration; kill it if it does not.
			const guard = setTimeout(
				() => child.kill("SIGKILL"),
				(duration + 30) * 1000,
			);
			child.on("error", reject);
			child.on("close", (code) => {
				clearTimeout(guard);
				resolve({ code, stdout, stderr });
			});
		});
		const parsed = parseWrkLine(stdout);
		if (code !== 0 || !parsed)
			throw new Error(
				`wrk failed (exit ${code}): ${(stderr || stdout).trim().split("\n").slice(0, 3).join(" ")}`,
			);
		return { ...parsed, cpu_s: childCpuSeconds(stderr) };
	} finally {
		await rm(dir, { recursive: true, force: true });
	}
}
