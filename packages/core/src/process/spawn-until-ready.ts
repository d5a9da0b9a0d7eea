import { type ChildProcess, spawn } from "node:child_process";
import { CoreError } from "../errors.ts";

/** How a spawned process ended. */
export interface ExitStatus {
	code: number | null;
	signal: NodeJS.Signals | null;
}

/** Options of {@link spawnUntilReady}. */
export interface SpawnUntilReadyOptions {
	/** The program and its arguments, e.g. `[process.execPath, "server/mdp-serve.mjs", "--port", "0"]`. */
	command: readonly string[];
	/**
	 * The child's whole environment besides `PATH`, `HOME` and `ORT_DISABLE_TELEMETRY=1`, which are always
	 * set. The parent's environment is not inherited: a variable such as `NODE_EXTRA_CA_CERTS` adds ~90 ms
	 * to every Node start and would make start-up figures depend on who ran them.
	 */
	env?: Record<string, string>;
	cwd?: string;
	/**
	 * Where the server answers. A string when known in advance; omitted when the child picks its port and
	 * announces it: then the first stdout line that is a JSON object with a string `url` (the
	 * `{"event":"listening","url":…}` line of `mdp-serve`) gives it.
	 */
	url?: string;
	/** Path probed until it answers 2xx. Default `/v2/health/ready` (the OIP readiness endpoint). */
	readyPath?: string;
	/** Default 30 s; the error then carries the child's last stderr lines. */
	timeoutMs?: number;
	/** Between readiness probes. Default 20 ms. */
	probeIntervalMs?: number;
	/** Each line the child writes, for logs (stdout and stderr are both piped). */
	onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

/** A process that answered its readiness probe. */
export interface ReadyProcess {
	url: string;
	pid: number;
	child: ChildProcess;
	/** Wall time from spawn to the first successful readiness probe. */
	startMs: number;
	/** Resolves when the process ends, however it ends. */
	exited: Promise<ExitStatus>;
	/** The last stderr lines (up to 4 KB). */
	stderrTail(): string;
	/**
	 * SIGTERM, then SIGKILL after `graceMs` (default 10 s); resolves to the exit status. Safe to call on a
	 * process that has already ended.
	 */
	stop(graceMs?: number): Promise<ExitStatus>;
}

/**
 * Starts a server process and resolves once its readiness endpoint answers 2xx: one helper for every
 * process a pattern runs (a vm instance, a serve process, a function instance). The start is bounded:
 * after `timeoutMs`, or if the child exits first, the child is killed and the promise rejects with an
 * error that holds the child's last stderr lines.
 *
 * @example
 * const server = await spawnUntilReady({
 *   command: [process.execPath, "server/mdp-serve.mjs", "--port", "8081", "--host", "127.0.1.1"],
 *   url: "http://127.0.1.1:8081",
 * });
 * await server.stop();
 */
export async function spawnUntilReady(
	options: SpawnUntilReadyOptions,
): Promise<ReadyProcess> {
	const [program, ...args] = options.command;
	if (program === undefined)
		throw new CoreError("INVALID_ARGUMENT", "spawnUntilReady: empty command");
	const timeoutMs = options.timeoutMs ?? 30_000;
	const readyPath = options.readyPath ?? "/v2/health/ready";
	const started = performance.now();
	const child = spawn(program, args, {
		cwd: options.cwd,
		env: {
			PATH: process.env.PATH ?? "/usr/bin:/bin",
			HOME: process.env.HOME ?? "/tmp",
			ORT_DISABLE_TELEMETRY: "1",
			...options.env,
		},
		stdio: ["ignore", "pipe", "pipe"],
	});
	let stderr = "";
	let announced: string | undefined;
	const exited = new Promise<ExitStatus>((resolve) =>
		child.once("exit", (code, signal) => resolve({ code, signal })),
	);
	const spawnFailed = new Promise<Error>((resolve) =>
		child.once("error", resolve),
	);
	readLines(child.stdout, (line) => {
		if (announced === undefined && line.startsWith("{")) {
			try {
				const url = (JSON.parse(line) as { url?: unknown }).url;
				if (typeof url === "string") announced = url;
			} catch {
				// Not a JSON line: just output.
			}
		}
		options.onLine?.(line, "stdout");
	});
	readLines(child.stderr, (line) => {
		stderr = `${stderr}${line}\n`.slice(-4096);
		options.onLine?.(line, "stderr");
	});

	const stop = async (graceMs = 10_000): Promise<ExitStatus> => {
		if (child.exitCode === null && child.signalCode === null) {
			child.kill("SIGTERM");
			const killer = setTimeout(() => child.kill("SIGKILL"), graceMs);
			const status = await exited;
			clearTimeout(killer);
			return status;
		}
		return exited;
	};
	const fail = async (why: string): Promise<never> => {
		await stop(0);
		const tail = stderr.trim();
		throw new CoreError(
			"UNAVAILABLE",
			`${options.command.join(" ")}: ${why}${tail ? `\n--- last stderr lines ---\n${tail}` : ""}`,
		);
	};

	let ended: ExitStatus | undefined;
	void exited.then((status) => {
		ended = status;
	});
	let launchError: Error | undefined;
	void spawnFailed.then((error) => {
		launchError = error;
	});
	for (;;) {
		if (launchError) return fail(`could not start: ${launchError.message}`);
		if (ended) {
			return fail(
				`exited (${ended.signal ?? `code ${ended.code}`}) before it was ready`,
			);
		}
		if (performance.now() - started > timeoutMs)
			return fail(`not ready within ${timeoutMs} ms`);
		const url = options.url ?? announced;
		if (url !== undefined && (await probe(url, readyPath))) {
			return {
				url,
				pid: child.pid as number,
				child,
				startMs: performance.now() - started,
				exited,
				stderrTail: () => stderr,
				stop,
			};
		}
		await new Promise((r) => setTimeout(r, options.probeIntervalMs ?? 20));
	}
}

async function probe(url: string, path: string): Promise<boolean> {
	try {
		const res = await fetch(new URL(path, url), {
			signal: AbortSignal.timeout(1000),
		});
		await res.arrayBuffer();
		return res.ok;
	} catch {
		return false;
	}
}

function readLines(
	stream: NodeJS.ReadableStream | null,
	onLine: (line: string) => void,
): void {
	if (!stream) return;
	let buffer = "";
	stream.setEncoding("utf8");
	stream.on("data", (chunk: string) => {
		buffer += chunk;
		let nl = buffer.indexOf("\n");
		while (nl >= 0) {
			onLine(buffer.slice(0, nl));
			buffer = buffer.slice(nl + 1);
			nl = buffer.indexOf("\n");
		}
	});
	stream.on("end", () => {
		if (buffer) onLine(buffer);
	});
}
