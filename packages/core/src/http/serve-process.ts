import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { CoreError } from "../errors.ts";

const CLI = fileURLToPath(new URL("../../bin/mdp-core.js", import.meta.url));

/** Options of {@link startServeProcess}. */
export interface ServeProcessOptions {
	/** Arguments after `mdp-core serve` (`--bundle DIR`, `--batch-max-rows 32`, …); `--port 0` is added unless given. */
	args?: string[];
	/** Extra environment (the child gets a small controlled environment, not the parent's). */
	env?: Record<string, string>;
	/** Prefix the command, for example `["taskset", "-c", "0"]` to pin the server to a core. */
	wrapper?: string[];
	/** How long to wait for the listening line. Default 30 s. */
	timeoutMs?: number;
	/** The `mdp-core` entry to run: a bundled server (`buildServer`) instead of the TypeScript sources. */
	cli?: string;
}

/** A running `mdp-core serve` process. */
export interface ServeProcess {
	url: string;
	pid: number;
	child: ChildProcess;
	/** Wall time from spawn to the listening line. */
	startMs: number;
	/** Sends SIGTERM (graceful) and waits; SIGKILL after `timeoutMs` (default 10 s). Resolves to the exit code. */
	stop(timeoutMs?: number): Promise<number | null>;
}

/**
 * Spawns `mdp-core serve` and resolves once it listens. The child's environment is controlled: a
 * variable such as `NODE_EXTRA_CA_CERTS` adds ~90 ms to every Node start, so it is not inherited.
 */
export function startServeProcess(
	options: ServeProcessOptions = {},
): Promise<ServeProcess> {
	const args = options.args ?? [];
	const full = [
		"serve",
		...(args.includes("--port") ? [] : ["--port", "0"]),
		...args,
	];
	const command = [
		...(options.wrapper ?? []),
		process.execPath,
		options.cli ?? CLI,
		...full,
	];
	const env = {
		PATH: process.env.PATH ?? "/usr/bin:/bin",
		HOME: process.env.HOME ?? "/tmp",
		ORT_DISABLE_TELEMETRY: "1",
		...options.env,
	};
	const started = performance.now();
	const child = spawn(command[0] as string, command.slice(1), {
		env,
		stdio: ["ignore", "pipe", "pipe"],
	});
	let stderr = "";
	child.stderr?.on("data", (chunk: Buffer) => {
		stderr = (stderr + chunk.toString()).slice(-4000);
	});
	const exited = new Promise<number | null>((resolve) =>
		child.once("exit", (code) => resolve(code)),
	);
	return new Promise<ServeProcess>((resolve, reject) => {
		const fail = (message: string) => {
			if (child.exitCode === null) child.kill("SIGKILL");
			reject(new CoreError("UNAVAILABLE", `${message}\n${stderr}`));
		};
		const timer = setTimeout(
			() =>
				fail(
					`mdp-core serve did not listen within ${options.timeoutMs ?? 30_000} ms`,
				),
			options.timeoutMs ?? 30_000,
		);
		let buffer = "";
		child.stdout?.on("data", (chunk: Buffer) => {
			buffer += chunk.toString();
			const line = buffer
				.split("\n")
				.find((l) => l.startsWith('{"event":"listening"'));
			if (!line) return;
			clearTimeout(timer);
			const { url } = JSON.parse(line) as { url: string };
			resolve({
				url,
				pid: child.pid as number,
				child,
				startMs: performance.now() - started,
				async stop(timeoutMs = 10_000) {
					if (child.exitCode !== null || child.signalCode !== null)
						return child.exitCode;
					child.kill("SIGTERM");
					const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
					const code = await exited;
					clearTimeout(killer);
					return code;
				},
			});
		});
		child.once("exit", (code) => {
			clearTimeout(timer);
			fail(`mdp-core serve exited with code ${code} before listening`);
		});
	});
}
