import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomFillSync } from "node:crypto";
import {
	createServer,
	type IncomingMessage,
	type Server,
	type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { INIT_EVENT, type InitPhases } from "../handlers/init-function.ts";
import { installedPackage } from "../installed-package.ts";
import { fromLambdaResult, toApiGatewayV2Event } from "./api-gateway.ts";
import {
	type ColdStart,
	type FunctionInstance,
	InitFailure,
	type InvokeOutcome,
} from "./function-instance.ts";
import { type GatewayRequest, jsonResponse } from "./gateway-types.ts";
import { heapFlags, MemoryCgroup, PeakRss } from "./memory-cgroup.ts";

/** Lambda runtimes this platform starts. */
export type LambdaRuntime = "nodejs" | "provided";

/** Options of a {@link LambdaInstance}. */
export interface LambdaInstanceOptions {
	id: string;
	version: number;
	/** The unzipped package (`LAMBDA_TASK_ROOT`, the working directory). */
	taskRoot: string;
	runtime: LambdaRuntime;
	/** Handler string for the nodejs runtime (`index.handler`). */
	handler: string;
	functionName: string;
	memoryMb: number;
	initTimeoutMs: number;
	/** Put the instance in a cgroup v1 memory cgroup (when available). */
	cgroup: boolean;
	/** Each line the instance writes (stdout and stderr). */
	onLine?: (line: string, stream: "stdout" | "stderr") => void;
}

/**
 * The largest response a synchronous invocation may return (Lambda: 6 MB).
 *
 * @example
 * if (body.byteLength > MAX_RESPONSE_BYTES) reply(413);
 */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

interface Pending {
	requestId: string;
	event: string;
	deadlineMs: number;
	resolve: (outcome: InvokeOutcome) => void;
}

let ricEntry: string | undefined;

const randomPool = Buffer.alloc(4096);
let randomOffset = randomPool.length;

/** Hex of `bytes` random bytes, from a pool refilled 4 KB at a time: one system call per ~170 invocations. */
function randomHex(bytes: number): string {
	if (randomOffset + bytes > randomPool.length) {
		randomFillSync(randomPool);
		randomOffset = 0;
	}
	randomOffset += bytes;
	return randomPool.toString("hex", randomOffset - bytes, randomOffset);
}

/** The Runtime API's answer to a posted response or error. */
const ACCEPTED = JSON.stringify({ status: "OK" });

/**
 * The entry of AWS's Node.js runtime interface client installed beside this package.
 *
 * @example
 * spawn(process.execPath, [runtimeInterfaceClientEntry()], { env: { AWS_LAMBDA_RUNTIME_API: "127.0.0.1:9001", _HANDLER: "index.handler", LAMBDA_TASK_ROOT: dir } });
 */
export function runtimeInterfaceClientEntry(): string {
	ricEntry ??= join(installedPackage("aws-lambda-ric").dir, "index.mjs");
	return ricEntry;
}

/**
 * One Lambda execution environment: a loopback Runtime API server (`/2018-06-01/runtime/...`) of its own
 * and one process, AWS's runtime interface client for the nodejs runtime or the package's `bootstrap` for
 * `provided`, started with Lambda's environment variables and nothing inherited. Ready once the process
 * polls `/invocation/next` (the end of init); one invocation at a time.
 *
 * @example
 * const instance = new LambdaInstance({ id: "fn-1", version: 1, taskRoot, runtime: "nodejs", handler: "index.handler", functionName: "fn", memoryMb: 512, initTimeoutMs: 10_000, cgroup: true });
 * await instance.ready();
 * const outcome = await instance.invoke(request, randomUUID(), 30_000);
 */
export class LambdaInstance implements FunctionInstance {
	readonly id: string;
	readonly version: number;
	readonly coldStart: ColdStart;
	#options: LambdaInstanceOptions;
	#server: Server | undefined;
	#child: ChildProcess | undefined;
	#cgroup: MemoryCgroup | undefined;
	#peakRss: PeakRss | undefined;
	/** The function URL's id in events (from the function name) and the function's ARN. */
	readonly #apiId: string;
	readonly #functionArn: string;
	#exited = false;
	#exitStatus:
		| { code: number | null; signal: NodeJS.Signals | null }
		| undefined;
	#exitedPromise: Promise<void> | undefined;
	/** A `/next` call waiting for an event. */
	#waiting: ServerResponse | undefined;
	#pending: Pending | undefined;
	/** The invocation handed to the runtime and not answered yet. */
	#current: Pending | undefined;
	#readyPromise: Promise<void> | undefined;
	#markReady: (() => void) | undefined;
	#failInit: ((failure: InitFailure) => void) | undefined;
	#initError: { errorType: string; body: string } | undefined;
	#stderrTail: string[] = [];
	#timer: NodeJS.Timeout | undefined;

	constructor(options: LambdaInstanceOptions) {
		this.id = options.id;
		this.version = options.version;
		this.#options = options;
		this.coldStart = { spawnEpochMs: Date.now() };
		this.#apiId =
			options.functionName
				.toLowerCase()
				.replace(/[^a-z0-9]/g, "")
				.slice(0, 20) || "mdp";
		this.#functionArn = `arn:aws:lambda:us-east-1:000000000000:function:${options.functionName}`;
	}

	get pid(): number | undefined {
		return this.#child?.pid;
	}

	get exited(): boolean {
		return this.#exited;
	}

	/** Starts the Runtime API and the process; resolves at the first `/next` (init done). */
	ready(): Promise<void> {
		this.#readyPromise ??= this.#start();
		return this.#readyPromise;
	}

	async #start(): Promise<void> {
		const server = createServer((req, res) => this.#route(req, res));
		server.keepAliveTimeout = 0;
		this.#server = server;
		await new Promise<void>((resolve, reject) => {
			server.once("error", reject);
			server.listen(0, "127.0.0.1", () => resolve());
		});
		const { port } = server.address() as AddressInfo;
		const o = this.#options;
		const name = o.functionName;
		const day = new Date().toISOString().slice(0, 10).replaceAll("-", "/");
		const env: Record<string, string> = {
			PATH: "/usr/local/bin:/usr/bin:/bin",
			LANG: "en_US.UTF-8",
			TZ: ":UTC",
			ORT_DISABLE_TELEMETRY: "1",
			AWS_REGION: "us-east-1",
			AWS_DEFAULT_REGION: "us-east-1",
			AWS_EXECUTION_ENV:
				o.runtime === "nodejs"
					? `AWS_Lambda_nodejs${process.versions.node.split(".")[0]}.x`
					: "",
			AWS_LAMBDA_FUNCTION_NAME: name,
			AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
			AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(o.memoryMb),
			AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
			AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${name}`,
			AWS_LAMBDA_LOG_STREAM_NAME: `${day}/[$LATEST]${randomBytes(16).toString("hex")}`,
			AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`,
			AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING: "true",
			LAMBDA_TASK_ROOT: o.taskRoot,
			LAMBDA_RUNTIME_DIR:
				o.runtime === "nodejs"
					? join(runtimeInterfaceClientEntry(), "..")
					: o.taskRoot,
			_HANDLER: o.handler,
		};
		if (o.runtime !== "nodejs") delete env.AWS_EXECUTION_ENV;
		const command =
			o.runtime === "nodejs"
				? [
						process.execPath,
						...heapFlags(o.memoryMb),
						runtimeInterfaceClientEntry(),
					]
				: [join(o.taskRoot, "bootstrap")];
		this.#cgroup = o.cgroup
			? MemoryCgroup.create(
					`mdp-fn-${process.pid}-${o.id}-${randomBytes(3).toString("hex")}`,
					o.memoryMb * 2 ** 20,
				)
			: undefined;
		// Join the cgroup before exec, so the limit covers the whole process from its first byte.
		const argv = this.#cgroup ? this.#cgroup.wrap(command) : command;
		const ready = new Promise<void>((resolve, reject) => {
			this.#markReady = resolve;
			this.#failInit = reject;
		});
		this.coldStart.spawnEpochMs = Date.now();
		const child = spawn(argv[0] as string, argv.slice(1), {
			cwd: o.taskRoot,
			env,
			stdio: ["ignore", "pipe", "pipe"],
		});
		this.#child = child;
		child.once("error", (error) => this.#onExit(null, null, error.message));
		this.#exitedPromise = new Promise((resolve) =>
			child.once("close", () => resolve()),
		);
		child.once("exit", (code, signal) => this.#onExit(code, signal));
		this.#lines(child.stdout, "stdout");
		this.#lines(child.stderr, "stderr");
		this.#timer = setTimeout(() => {
			this.#fail(
				new InitFailure(
					`init did not finish within ${o.initTimeoutMs} ms`,
					"Sandbox.Timedout",
					jsonResponse(504, {
						errorType: "Sandbox.Timedout",
						errorMessage: `Init timed out after ${(o.initTimeoutMs / 1000).toFixed(2)} seconds`,
					}),
				),
			);
			this.#kill();
		}, o.initTimeoutMs);
		await ready;
	}

	#lines(
		stream: NodeJS.ReadableStream | null,
		name: "stdout" | "stderr",
	): void {
		if (!stream) return;
		let rest = "";
		stream.setEncoding("utf8");
		stream.on("data", (chunk: string) => {
			const lines = (rest + chunk).split("\n");
			rest = lines.pop() ?? "";
			for (const line of lines) this.#line(line, name);
		});
		stream.on("end", () => {
			if (rest) this.#line(rest, name);
		});
	}

	#line(line: string, stream: "stdout" | "stderr"): void {
		if (stream === "stderr") {
			this.#stderrTail.push(line);
			if (this.#stderrTail.length > 20) this.#stderrTail.shift();
		}
		if (this.coldStart.phases === undefined && line.includes(INIT_EVENT)) {
			try {
				const parsed = JSON.parse(
					line.slice(line.indexOf("{")),
				) as InitPhases & { event: string };
				if (parsed.event === INIT_EVENT) {
					const { event: _event, ...phases } = parsed;
					this.coldStart.phases = phases;
					return;
				}
			} catch {}
		}
		this.#options.onLine?.(line, stream);
	}

	#fail(failure: InitFailure): void {
		clearTimeout(this.#timer);
		this.#failInit?.(failure);
		this.#failInit = undefined;
		this.#markReady = undefined;
	}

	#onExit(
		code: number | null,
		signal: NodeJS.Signals | null,
		spawnError?: string,
	): void {
		if (this.#exited) return;
		this.#exited = true;
		this.#exitStatus = { code, signal };
		this.#peakRss?.close();
		clearTimeout(this.#timer);
		const oom = this.#outOfMemory();
		const how =
			spawnError ??
			(signal
				? `signal: ${signal === "SIGKILL" ? "killed" : signal}`
				: `exit status ${code}`);
		const errorType = oom ? "Runtime.OutOfMemory" : "Runtime.ExitError";
		if (this.#markReady) {
			const init = this.#initError;
			this.#fail(
				new InitFailure(
					`the instance exited during init (${how})`,
					init?.errorType ?? errorType,
					jsonResponse(502, {
						errorType: init?.errorType ?? errorType,
						errorMessage: init
							? safeMessage(init.body)
							: `Runtime exited with error: ${how}${this.#stderrTail.length ? `; last stderr: ${this.#stderrTail.slice(-3).join(" | ")}` : ""}`,
					}),
				),
			);
		}
		const current = this.#current ?? this.#pending;
		this.#current = undefined;
		this.#pending = undefined;
		current?.resolve({
			kind: "failure",
			errorType,
			instanceLost: true,
			response: jsonResponse(502, {
				errorType,
				errorMessage: `RequestId: ${current.requestId} Error: Runtime exited with error: ${how}`,
			}),
		});
		this.#waiting?.destroy();
		this.#waiting = undefined;
		this.#server?.close();
		this.#server?.closeAllConnections();
		void this.#exitedPromise?.then(() => this.#cgroup?.remove());
	}

	#outOfMemory(): boolean {
		if (this.#cgroup && this.#cgroup.oomKills() > 0) return true;
		return this.#stderrTail.some((l) =>
			/heap out of memory|Reached heap limit/.test(l),
		);
	}

	#kill(): void {
		if (!this.#exited) this.#child?.kill("SIGKILL");
	}

	invoke(
		request: GatewayRequest,
		requestId: string,
		timeoutMs: number,
	): Promise<InvokeOutcome> {
		const event = JSON.stringify(
			toApiGatewayV2Event(request, { apiId: this.#apiId, requestId }),
		);
		return new Promise<InvokeOutcome>((resolve) => {
			if (this.#exited) {
				resolve({
					kind: "failure",
					errorType: "Runtime.ExitError",
					instanceLost: true,
					response: jsonResponse(502, {
						errorType: "Runtime.ExitError",
						errorMessage: "the instance has exited",
					}),
				});
				return;
			}
			const timer = setTimeout(() => {
				if (
					this.#current?.requestId !== requestId &&
					this.#pending?.requestId !== requestId
				)
					return;
				this.#current = undefined;
				this.#pending = undefined;
				// Lambda resets the environment after a timeout: the next invocation is a cold start.
				this.#kill();
				resolve({
					kind: "failure",
					errorType: "Sandbox.Timedout",
					instanceLost: true,
					response: jsonResponse(504, {
						errorType: "Sandbox.Timedout",
						errorMessage: `RequestId: ${requestId} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
					}),
				});
			}, timeoutMs);
			this.#pending = {
				requestId,
				event,
				deadlineMs: Date.now() + timeoutMs,
				resolve: (outcome) => {
					clearTimeout(timer);
					resolve(outcome);
				},
			};
			this.#deliver();
		});
	}

	#deliver(): void {
		const res = this.#waiting;
		const next = this.#pending;
		if (!res || !next) return;
		this.#waiting = undefined;
		this.#pending = undefined;
		this.#current = next;
		res.writeHead(200, {
			"content-type": "application/json",
			"lambda-runtime-aws-request-id": next.requestId,
			"lambda-runtime-deadline-ms": String(next.deadlineMs),
			"lambda-runtime-invoked-function-arn": this.#functionArn,
			"lambda-runtime-trace-id": `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomHex(12)};Parent=${randomHex(8)};Sampled=0;Lineage=1:${randomHex(4)}:0`,
		});
		res.end(next.event);
	}

	#route(req: IncomingMessage, res: ServerResponse): void {
		const url = req.url ?? "";
		// `body` is JSON: an object to serialise, or text already serialised.
		const reply = (status: number, body: object | string) => {
			res.writeHead(status, { "content-type": "application/json" });
			res.end(typeof body === "string" ? body : JSON.stringify(body));
		};
		if (req.method === "GET" && url === "/2018-06-01/runtime/invocation/next") {
			if (this.#waiting) {
				reply(400, {
					errorMessage: "a /next call is already waiting",
					errorType: "InvalidStateTransition",
				});
				return;
			}
			if (this.#markReady) {
				clearTimeout(this.#timer);
				this.coldStart.initDurationMs =
					Date.now() - this.coldStart.spawnEpochMs;
				const markReady = this.#markReady;
				this.#markReady = undefined;
				this.#failInit = undefined;
				markReady();
			}
			this.#waiting = res;
			// No timeout: the runtime waits as long as it takes (on Lambda it would be frozen meanwhile).
			res.on("close", () => {
				if (this.#waiting === res) this.#waiting = undefined;
			});
			this.#deliver();
			return;
		}
		const match =
			/^\/2018-06-01\/runtime\/(?:invocation\/([^/]+)\/(response|error)|(init)\/error)$/.exec(
				url,
			);
		if (req.method !== "POST" || !match) {
			reply(404, {
				errorMessage: `no Runtime API route ${req.method} ${url}`,
				errorType: "InvalidRequest",
			});
			return;
		}
		const chunks: Buffer[] = [];
		let size = 0;
		let tooLarge = false;
		req.on("data", (chunk: Buffer) => {
			size += chunk.byteLength;
			if (size > MAX_RESPONSE_BYTES) tooLarge = true;
			else chunks.push(chunk);
		});
		req.on("end", () => {
			const body = Buffer.concat(chunks).toString("utf8");
			const errorType = String(
				req.headers["lambda-runtime-function-error-type"] ?? "Unhandled",
			);
			if (match[3] === "init") {
				this.#initError = {
					errorType: parseError(body).errorType ?? errorType,
					body,
				};
				reply(202, ACCEPTED);
				return;
			}
			const current = this.#current;
			if (
				!current ||
				decodeURIComponent(match[1] as string) !== current.requestId
			) {
				reply(400, {
					errorMessage: `unknown or finished request id ${match[1]}`,
					errorType: "InvalidRequestID",
				});
				return;
			}
			this.#current = undefined;
			if (tooLarge) {
				reply(413, {
					errorMessage: `response payload over ${MAX_RESPONSE_BYTES} bytes`,
					errorType: "RequestEntityTooLarge",
				});
				current.resolve({
					kind: "failure",
					errorType: "Function.ResponseSizeTooLarge",
					instanceLost: false,
					response: jsonResponse(502, {
						errorType: "Function.ResponseSizeTooLarge",
						errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`,
					}),
				});
				return;
			}
			reply(202, ACCEPTED);
			if (match[2] === "response")
				current.resolve({ kind: "response", response: fromLambdaResult(body) });
			else {
				// Lambda returns the error document the runtime posted; its errorType wins over the header's.
				const posted = parseError(body);
				const type = posted.errorType ?? errorType;
				current.resolve({
					kind: "failure",
					errorType: type,
					instanceLost: false,
					response: jsonResponse(502, {
						errorType: type,
						errorMessage: posted.errorMessage ?? body.slice(0, 1000),
						...(posted.trace ? { trace: posted.trace } : {}),
					}),
				});
			}
		});
	}

	maxMemoryUsedBytes(): number | undefined {
		// The cgroup's peak (what its limit enforces) or the process's peak RSS, whichever is larger: file
		// pages the cgroup was not charged for (a shared library already in the page cache) are still used.
		const cgroup = this.#cgroup?.maxUsageBytes();
		this.#peakRss ??= new PeakRss(this.pid);
		const rss = this.#peakRss.bytes();
		if (cgroup === undefined) return rss;
		return Math.max(cgroup, rss ?? 0);
	}

	/** How the process ended, once it has. */
	exitStatus():
		| { code: number | null; signal: NodeJS.Signals | null }
		| undefined {
		return this.#exitStatus;
	}

	async stop(graceMs = 2000): Promise<void> {
		const child = this.#child;
		if (child && !this.#exited) {
			child.kill("SIGTERM");
			const timer = setTimeout(() => this.#kill(), graceMs);
			await this.#exitedPromise;
			clearTimeout(timer);
		} else if (this.#exitedPromise) await this.#exitedPromise;
		this.#server?.close();
		this.#server?.closeAllConnections();
		if (!child)
			this.#fail(
				new InitFailure(
					"stopped",
					"Runtime.Stopped",
					jsonResponse(503, { errorType: "Runtime.Stopped" }),
				),
			);
		await this.#cgroup?.remove();
	}
}

/** The `errorMessage` of a Runtime API error body, or the body itself. */
function safeMessage(body: string): string {
	try {
		const parsed = JSON.parse(body) as { errorMessage?: unknown };
		if (typeof parsed.errorMessage === "string") return parsed.errorMessage;
	} catch {}
	return body.slice(0, 1000);
}

/** The fields of an error document a runtime posts (`trace` from the Node RIC, `stackTrace` per the docs). */
function parseError(body: string): {
	errorType?: string;
	errorMessage?: string;
	trace?: unknown;
} {
	try {
		const parsed = JSON.parse(body) as Record<string, unknown>;
		return {
			errorType:
				typeof parsed.errorType === "string" ? parsed.errorType : undefined,
			errorMessage:
				typeof parsed.errorMessage === "string"
					? parsed.errorMessage
					: undefined,
			trace: parsed.trace ?? parsed.stackTrace,
		};
	} catch {
		return {};
	}
}
