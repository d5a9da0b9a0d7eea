import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { spawnUntilReady } from "../process/spawn-until-ready.ts";

const CLI = fileURLToPath(new URL("../../bin/mdp-core.js", import.meta.url));

/** Options of {@link startServeProcess}. */
export interface ServeProcessOptions {
	/** Server arguments (`--bundle DIR`, `--batch-max-rows 32`, …); `--port 0` is added unless given. */
	args?: string[];
	/** Extra environment (the child gets a small controlled environment, not the parent's). */
	env?: Record<string, string>;
	/** Prefix the command, for example `["taskset", "-c", "0"]` to pin the server to a core. */
	wrapper?: string[];
	/** How long to wait for readiness. Default 30 s. */
	timeoutMs?: number;
	/**
	 * A built server (`<out>/mdp-serve.mjs` of `buildServer`) to run instead of `mdp-core serve` from the
	 * TypeScript sources.
	 */
	entry?: string;
}

/** A running server process. */
export interface ServeProcess {
	url: string;
	pid: number;
	child: ChildProcess;
	/** Wall time from spawn to the first ready answer of `/v2/health/ready`. */
	startMs: number;
	/** Sends SIGTERM (graceful) and waits; SIGKILL after `timeoutMs` (default 10 s). Resolves to the exit code. */
	stop(timeoutMs?: number): Promise<number | null>;
}

/**
 * Spawns the HTTP server (`mdp-core serve`, or a built `mdp-serve.mjs`) and resolves once it is ready,
 * through {@link spawnUntilReady}: controlled environment, readiness probed on the OIP ready endpoint
 * (`--bare` has no model, so its liveness endpoint is probed), bounded start with the child's stderr in
 * the error.
 */
export async function startServeProcess(
	options: ServeProcessOptions = {},
): Promise<ServeProcess> {
	const args = options.args ?? [];
	const server = await spawnUntilReady({
		command: [
			...(options.wrapper ?? []),
			process.execPath,
			...(options.entry ? [options.entry] : [CLI, "serve"]),
			...(args.includes("--port") ? [] : ["--port", "0"]),
			...args,
		],
		env: options.env,
		timeoutMs: options.timeoutMs,
		readyPath: args.includes("--bare") ? "/v2/health/live" : undefined,
	});
	return {
		url: server.url,
		pid: server.pid,
		child: server.child,
		startMs: server.startMs,
		async stop(timeoutMs) {
			return (await server.stop(timeoutMs)).code;
		},
	};
}
