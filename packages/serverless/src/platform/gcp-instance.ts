import { type ChildProcess, spawn } from "node:child_process";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { freePort } from "@mdp/core/process";
import { INIT_EVENT, type InitPhases } from "../handlers/init-function.ts";
import { installedPackage } from "../installed-package.ts";
import {
	type ColdStart,
	type FunctionInstance,
	InitFailure,
	type InvokeOutcome,
} from "./function-instance.ts";
import { type GatewayRequest, jsonResponse } from "./gateway-types.ts";
import { heapFlags, MemoryCgroup, peakRssBytes } from "./memory-cgroup.ts";

/** Options of a {@link GcpInstance}. */
export interface GcpInstanceOptions {
	id: string;
	version: number;
	/** The unzipped source folder (with the framework provided in its node_modules). */
	sourceDir: string;
	/** The registered function name (`--target`). */
	target: string;
	functionName: string;
	memoryMb: number;
	initTimeoutMs: number;
	cgroup: boolean;
	onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

/**
 * The functions-framework CLI installed beside this package.
 *
 * @example
 * spawn(process.execPath, [functionsFrameworkMain(), "--target=predict", "--port=8080", `--source=${dir}`]);
 */
export function functionsFrameworkMain(): string {
	return join(
		installedPackage("@google-cloud/functions-framework").dir,
		"build",
		"src",
		"main.js",
	);
}

const HOP_BY_HOP = new Set([
	"connection",
	"keep-alive",
	"transfer-encoding",
	"upgrade",
	"proxy-connection",
	"te",
	"trailer",
	"content-length",
]);

/**
 * One Cloud Run functions instance: `functions-framework --target=NAME --port=P --source=DIR` as a process
 * of its own (controlled environment, memory limit like the Lambda instances), ready when its port
 * accepts connections; requests are proxied to it as HTTP.
 *
 * @example
 * const instance = new GcpInstance({ id: "fn-1", version: 1, sourceDir, target: "predict", functionName: "fn", memoryMb: 512, initTimeoutMs: 10_000, cgroup: true });
 * await instance.ready();
 * const outcome = await instance.invoke(request, randomUUID(), 30_000);
 */
export class GcpInstance implements FunctionInstance {
	readonly id: string;
	readonly version: number;
	readonly coldStart: ColdStart;
	#options: GcpInstanceOptions;
	#child: ChildProcess | undefined;
	#cgroup: MemoryCgroup | undefined;
	#port = 0;
	#exited = false;
	#exitedPromise: Promise<void> | undefined;
	#ready: Promise<void> | undefined;
	#stderrTail: string[] = [];
	#onExit = new Set<(how: string) => void>();

	constructor(options: GcpInstanceOptions) {
		this.id = options.id;
		this.version = options.version;
		this.#options = options;
		this.coldStart = { spawnEpochMs: Date.now() };
	}

	get pid(): number | undefined {
		return this.#child?.pid;
	}

	get exited(): boolean {
		return this.#exited;
	}

	ready(): Promise<void> {
		this.#ready ??= this.#start();
		return this.#ready;
	}

	async #start(): Promise<void> {
		const o = this.#options;
		this.#port = await freePort();
		const env: Record<string, string> = {
			PATH: "/usr/local/bin:/usr/bin:/bin",
			HOME: "/tmp",
			LANG: "en_US.UTF-8",
			TZ: "UTC",
			NODE_ENV: "production",
			ORT_DISABLE_TELEMETRY: "1",
			PORT: String(this.#port),
			FUNCTION_TARGET: o.target,
			FUNCTION_SIGNATURE_TYPE: "http",
			K_SERVICE: o.functionName,
			K_REVISION: `${o.functionName}-${String(o.version).padStart(5, "0")}`,
			K_CONFIGURATION: o.functionName,
		};
		const command = [
			process.execPath,
			...heapFlags(o.memoryMb),
			functionsFrameworkMain(),
			`--target=${o.target}`,
			`--port=${this.#port}`,
			`--source=${o.sourceDir}`,
			"--signature-type=http",
		];
		this.#cgroup = o.cgroup
			? MemoryCgroup.create(
					`mdp-gcp-${process.pid}-${o.id}-${Date.now()}`,
					o.memoryMb * 2 ** 20,
				)
			: undefined;
		const argv = this.#cgroup ? this.#cgroup.wrap(command) : command;
		this.coldStart.spawnEpochMs = Date.now();
		const child = spawn(argv[0] as string, argv.slice(1), {
			cwd: o.sourceDir,
			env,
			stdio: ["ignore", "pipe", "pipe"],
		});
		this.#child = child;
		this.#exitedPromise = new Promise((resolve) =>
			child.once("close", () => resolve()),
		);
		child.once("error", () => {});
		child.once("exit", (code, signal) => {
			this.#exited = true;
			const how = signal
				? `signal: ${signal === "SIGKILL" ? "killed" : signal}`
				: `exit status ${code}`;
			for (const listener of this.#onExit) listener(how);
			void this.#exitedPromise?.then(() => this.#cgroup?.remove());
		});
		for (const [stream, name] of [
			[child.stdout, "stdout"],
			[child.stderr, "stderr"],
		] as const) {
			let rest = "";
			stream?.setEncoding("utf8");
			stream?.on("data", (chunk: string) => {
				const lines = (rest + chunk).split("\n");
				rest = lines.pop() ?? "";
				for (const line of lines) this.#line(line, name);
			});
		}
		const deadline = Date.now() + o.initTimeoutMs;
		for (;;) {
			if (this.#exited)
				throw new InitFailure(
					"the instance exited during init",
					"Runtime.ExitError",
					jsonResponse(502, {
						errorType: "Runtime.ExitError",
						errorMessage: `instance exited during init; last stderr: ${this.#stderrTail.slice(-3).join(" | ")}`,
					}),
				);
			if (Date.now() > deadline) {
				this.#child?.kill("SIGKILL");
				throw new InitFailure(
					"init timed out",
					"Sandbox.Timedout",
					jsonResponse(504, {
						errorType: "Sandbox.Timedout",
						errorMessage: `Init timed out after ${(o.initTimeoutMs / 1000).toFixed(2)} seconds`,
					}),
				);
			}
			if (await this.#portAnswers()) break;
			await new Promise((r) => setTimeout(r, 15));
		}
		this.coldStart.initDurationMs = Date.now() - this.coldStart.spawnEpochMs;
	}

	#portAnswers(): Promise<boolean> {
		return new Promise((resolve) => {
			const socket = connect(this.#port, "127.0.0.1");
			socket.once("connect", () => {
				socket.destroy();
				resolve(true);
			});
			socket.once("error", () => resolve(false));
		});
	}

	#line(line: string, stream: "stdout" | "stderr"): void {
		if (stream === "stderr") {
			this.#stderrTail.push(line);
			if (this.#stderrTail.length > 20) this.#stderrTail.shift();
		}
		if (this.coldStart.phases === undefined && line.includes(INIT_EVENT)) {
			try {
				const { event: _e, ...phases } = JSON.parse(
					line.slice(line.indexOf("{")),
				) as InitPhases & { event: string };
				this.coldStart.phases = phases;
				return;
			} catch {}
		}
		this.#options.onLine?.(line, stream);
	}

	invoke(
		request: GatewayRequest,
		requestId: string,
		timeoutMs: number,
	): Promise<InvokeOutcome> {
		return new Promise<InvokeOutcome>((resolve) => {
			let settled = false;
			const finish = (outcome: InvokeOutcome) => {
				if (settled) return;
				settled = true;
				clearTimeout(timer);
				this.#onExit.delete(onExit);
				resolve(outcome);
			};
			const onExit = (how: string) =>
				finish({
					kind: "failure",
					errorType: this.#outOfMemory()
						? "Runtime.OutOfMemory"
						: "Runtime.ExitError",
					instanceLost: true,
					response: jsonResponse(502, {
						errorType: "Runtime.ExitError",
						errorMessage: `RequestId: ${requestId} Error: instance exited: ${how}`,
					}),
				});
			this.#onExit.add(onExit);
			const timer = setTimeout(() => {
				this.#child?.kill("SIGKILL");
				finish({
					kind: "failure",
					errorType: "Sandbox.Timedout",
					instanceLost: true,
					response: jsonResponse(504, {
						errorType: "Sandbox.Timedout",
						errorMessage: `RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
					}),
				});
			}, timeoutMs);
			const headers: Record<string, string[]> = {};
			for (const [name, value] of request.headers) {
				const key = name.toLowerCase();
				if (HOP_BY_HOP.has(key) || key === "host") continue;
				const list = headers[key] ?? [];
				list.push(value);
				headers[key] = list;
			}
			headers["function-execution-id"] = [requestId];
			headers["x-forwarded-for"] = [request.sourceIp];
			const req = httpRequest(
				{
					host: "127.0.0.1",
					port: this.#port,
					method: request.method,
					path: request.rawQuery
						? `${request.path}?${request.rawQuery}`
						: request.path,
					headers: {
						...headers,
						"content-length": String(request.body.byteLength),
					},
					agent: false,
				},
				(res) => {
					const chunks: Buffer[] = [];
					res.on("data", (c: Buffer) => chunks.push(c));
					res.on("end", () => {
						const out: [string, string][] = [];
						for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
							const name = res.rawHeaders[i] as string;
							if (!HOP_BY_HOP.has(name.toLowerCase()))
								out.push([name, res.rawHeaders[i + 1] as string]);
						}
						finish({
							kind: "response",
							response: {
								status: res.statusCode ?? 502,
								headers: out,
								body: Buffer.concat(chunks),
							},
						});
					});
					res.on("error", () => {});
				},
			);
			req.on("error", () => {
				// The exit listener reports a crash; a refused connection without an exit is reported here.
				setTimeout(
					() =>
						finish({
							kind: "failure",
							errorType: "Runtime.Unknown",
							instanceLost: true,
							response: jsonResponse(502, {
								errorType: "Runtime.Unknown",
								errorMessage: `RequestId: ${requestId} Error: connection to the instance failed`,
							}),
						}),
					200,
				);
			});
			req.end(request.body);
		});
	}

	#outOfMemory(): boolean {
		if (this.#cgroup && this.#cgroup.oomKills() > 0) return true;
		return this.#stderrTail.some((l) =>
			/heap out of memory|Reached heap limit/.test(l),
		);
	}

	maxMemoryUsedBytes(): number | undefined {
		const cgroup = this.#cgroup?.maxUsageBytes();
		const rss = peakRssBytes(this.pid);
		if (cgroup === undefined) return rss;
		return Math.max(cgroup, rss ?? 0);
	}

	async stop(graceMs = 2000): Promise<void> {
		const child = this.#child;
		if (child && !this.#exited) {
			child.kill("SIGTERM");
			const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
			await this.#exitedPromise;
			clearTimeout(timer);
		} else await this.#exitedPromise;
		await this.#cgroup?.remove();
	}
}
