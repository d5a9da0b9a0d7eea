import { randomUUID } from "node:crypto";
import {
	appendFile,
	mkdir,
	mkdtemp,
	readFile,
	rm,
	symlink,
} from "node:fs/promises";
import {
	createServer,
	type IncomingMessage,
	type Server,
	type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { CoreError } from "@mdp/core";
import { installedPackage } from "../installed-package.ts";
import { extractZip } from "../zip.ts";
import type { FunctionInstance, InvokeOutcome } from "./function-instance.ts";
import { InitFailure } from "./function-instance.ts";
import {
	type GatewayRequest,
	type GatewayResponse,
	jsonResponse,
} from "./gateway-types.ts";
import { GcpInstance } from "./gcp-instance.ts";
import { LambdaInstance, type LambdaRuntime } from "./lambda-instance.ts";
import { MemoryCgroup } from "./memory-cgroup.ts";

/** Options of {@link startFunctionPlatform}. */
export interface FunctionPlatformOptions {
	/** The function package (aws: a Lambda zip or a custom runtime with `bootstrap`; gcp: a source zip). */
	zip: string;
	/**
	 * How the zip is run. `aws` (default): Lambda's Runtime API and AWS's runtime interface client, one
	 * invocation per instance. `gcp`: functions-framework, `perInstanceConcurrency` requests per instance.
	 */
	provider?: "aws" | "gcp";
	/** gcp only: requests one instance serves at once (Cloud Run functions' default: 1). */
	perInstanceConcurrency?: number;
	/** gcp only: the registered function name. Default `predict`. */
	target?: string;
	/** Memory size in MB (V8 heap flags, and a cgroup v1 limit where writable). Default 512. */
	memoryMb?: number;
	/** Most instances at once; requests beyond get 429. Default 10. */
	concurrency?: number;
	/** An idle instance is stopped after this long (scale to zero). Default 60 s. */
	idleTimeoutMs?: number;
	/** Invocation timeout; 504 beyond, and the instance is replaced. Default 30 s. */
	timeoutMs?: number;
	/** Init (cold start) timeout; 504 beyond. Default 10 s, as on Lambda. */
	initTimeoutMs?: number;
	/**
	 * How long a request may wait for an instance when all `concurrency` are busy before it is throttled.
	 * Default 0 (Lambda throttles at once). A bounded wait lets a small pool absorb a burst.
	 */
	queueTimeoutMs?: number;
	/** Gateway port (0: any free one) and address. */
	port?: number;
	host?: string;
	/** Default `mdp-function`. */
	functionName?: string;
	/** Handler string for the nodejs runtime. Default `index.handler`. */
	handler?: string;
	/** Runtime; default: `provided` when the zip has a `bootstrap` and no `index.*`, else `nodejs`. */
	runtime?: LambdaRuntime;
	/**
	 * Freeze idle instances (SIGSTOP) and thaw them (SIGCONT) when reused, as Lambda freezes an environment
	 * between invocations: timers and unawaited work do not run while idle. Default false.
	 */
	freeze?: boolean;
	/** Use a cgroup v1 memory cgroup per instance where possible. Default true. */
	cgroup?: boolean;
	/** JSON-lines file the REPORT records are appended to. */
	reportFile?: string;
	/** Where REPORT records and instance log lines go besides the file; default stdout. `null`: nowhere. */
	log?: ((line: string) => void) | null;
}

/** The REPORT record of one invocation (one JSON line), Lambda's REPORT fields plus the cold-start phases. */
export interface InvocationReport {
	type: "REPORT";
	requestId: string;
	instance: string;
	pid?: number;
	version: number;
	method: string;
	path: string;
	status: number;
	durationMs: number;
	billedDurationMs: number;
	memorySizeMb: number;
	maxMemoryUsedMb?: number;
	/** Only on a cold start: spawn → the runtime's first `/next`. */
	initDurationMs?: number;
	coldStart?: {
		spawnMs?: number;
		runtimeMs?: number;
		onnxRuntimeLoadMs?: number;
		sessionMs?: number;
		/** The handler's own warm-up request at init, when it makes one. */
		warmUpMs?: number;
		firstInferenceMs: number;
		/** Request received → response ready, as the client saw it (less the network). */
		firstResponseMs: number;
	};
	errorType?: string;
	/** The Lambda-format text line. */
	message: string;
}

/** A running local function platform. */
export interface FunctionPlatform {
	readonly url: string;
	readonly port: number;
	readonly gatewayPid: number;
	/** Instances now: id, pid, state and package version. */
	instances(): {
		id: string;
		pid?: number;
		state: "init" | "idle" | "busy";
		version: number;
		/** Stopped with SIGSTOP while idle (the `freeze` option). */
		frozen: boolean;
	}[];
	/** REPORT records so far (also in the file and the log). */
	reports(): readonly InvocationReport[];
	/** Counters since start. */
	stats(): {
		invocations: number;
		coldStarts: number;
		throttles: number;
		instancesCreated: number;
		peakInstances: number;
	};
	/** Switches to another zip: new instances run it, idle old ones stop now, busy ones after their invocation. */
	switchZip(zip: string): Promise<number>;
	/**
	 * Keeps at least `instances` initialised instances (provisioned concurrency): they are started now, in
	 * the background of the returned promise, are not reaped when idle, and serve their first request warm.
	 * Resolves when they are ready. `0` returns to pure on-demand; idle instances are then stopped.
	 */
	scale(instances: number): Promise<void>;
	/** Stops the gateway and every instance; removes the unzipped packages. */
	stop(): Promise<void>;
}

interface Slot {
	instance: FunctionInstance;
	state: "init" | "idle" | "busy";
	/** Requests it is serving now (at most the per-instance concurrency). */
	inFlight: number;
	idleTimer?: NodeJS.Timeout;
	invocations: number;
	/** Last time it finished a request (to reuse the most recently used first). */
	lastUsed: number;
	/** Whether a request has already been counted as this instance's cold start. */
	coldClaimed?: boolean;
	/** Stopped with SIGSTOP while idle (the `freeze` option). */
	frozen?: boolean;
}

function signal(slot: Slot, name: "SIGSTOP" | "SIGCONT"): void {
	const pid = slot.instance.pid;
	if (pid === undefined || slot.instance.exited) return;
	try {
		process.kill(pid, name);
		slot.frozen = name === "SIGSTOP";
	} catch {
		slot.frozen = false;
	}
}

interface Waiter {
	resolve: (slot: Slot | undefined) => void;
	timer: NodeJS.Timeout;
}

/**
 * Largest synchronous request payload (Lambda: 6 MB).
 *
 * @example
 * if (size > MAX_REQUEST_BYTES) send(jsonResponse(413, { error: "request body is over 6 MB" }));
 */
export const MAX_REQUEST_BYTES = 6 * 1024 * 1024;

/**
 * Starts a local function platform for a Lambda zip: an HTTP gateway that turns each request into an API
 * Gateway v2 event, and execution environments created on demand, each a process polling its own Runtime
 * API (AWS's runtime interface client, or the zip's `bootstrap`), one invocation at a time, reused while
 * warm, stopped when idle, capped at `concurrency` (429 beyond), with init and invocation timeouts (504)
 * and a REPORT record per invocation.
 *
 * @example
 * const platform = await startFunctionPlatform({ zip: "dist/aws.zip", concurrency: 4 });
 * await fetch(`${platform.url}/predict`, { method: "POST", body: JSON.stringify({ records }) });
 * await platform.stop();
 */
export async function startFunctionPlatform(
	options: FunctionPlatformOptions,
): Promise<FunctionPlatform> {
	const memoryMb = options.memoryMb ?? 512;
	const concurrency = options.concurrency ?? 10;
	const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
	const timeoutMs = options.timeoutMs ?? 30_000;
	const initTimeoutMs = options.initTimeoutMs ?? 10_000;
	const queueTimeoutMs = options.queueTimeoutMs ?? 0;
	const functionName = options.functionName ?? "mdp-function";
	const provider = options.provider ?? "aws";
	const capacity =
		provider === "gcp" ? (options.perInstanceConcurrency ?? 1) : 1;
	if (!Number.isInteger(capacity) || capacity < 1)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`per-instance concurrency must be a positive integer, got ${capacity}`,
		);
	const useCgroup = (options.cgroup ?? true) && MemoryCgroup.available();
	if (!Number.isInteger(memoryMb) || memoryMb < 128 || memoryMb > 10_240)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`memory ${memoryMb} MB is outside Lambda's 128–10240 MB`,
		);
	if (!Number.isInteger(concurrency) || concurrency < 1)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`concurrency must be a positive integer, got ${concurrency}`,
		);
	const log =
		options.log === undefined
			? (line: string) => process.stdout.write(`${line}\n`)
			: options.log;
	const work = await mkdtemp(join(tmpdir(), "mdp-serverless-"));
	const packages = new Map<
		number,
		{ dir: string; runtime: LambdaRuntime; handler: string }
	>();
	let version = 0;
	const slots = new Set<Slot>();
	const waiters: Waiter[] = [];
	const reports: InvocationReport[] = [];
	const counters = {
		invocations: 0,
		coldStarts: 0,
		throttles: 0,
		instancesCreated: 0,
		peakInstances: 0,
	};
	let stopping = false;
	/** The tail of the report file's appends. */
	let reportWrites: Promise<void> = Promise.resolve();
	/** Provisioned concurrency: instances kept initialised (see `scale`). */
	let minInstances = 0;
	let nextInstance = 1;

	async function unpack(zip: string): Promise<number> {
		const bytes = await readFile(resolve(zip)).catch((error: unknown) => {
			throw new CoreError(
				"NOT_FOUND",
				`cannot read the function package ${zip}: ${(error as Error).message}`,
			);
		});
		const v = version + 1;
		const dir = join(work, `v${v}`);
		const entries = await extractZip(bytes, dir, zip);
		const names = new Set(entries.map((e) => e.name));
		if (provider === "gcp") {
			if (!names.has("package.json"))
				throw new CoreError(
					"INVALID_BUNDLE",
					`${zip} has no package.json at its root (a Cloud Run functions source zip needs one)`,
				);
			// The provider's build installs the framework from package.json; here the pinned copy is linked in.
			const framework = join(
				dir,
				"node_modules",
				"@google-cloud",
				"functions-framework",
			);
			if (
				!names.has(
					"node_modules/@google-cloud/functions-framework/package.json",
				)
			) {
				await mkdir(dirname(framework), { recursive: true });
				await symlink(
					installedPackage("@google-cloud/functions-framework").dir,
					framework,
					"dir",
				);
			}
			packages.set(v, {
				dir,
				runtime: "nodejs",
				handler: options.target ?? "predict",
			});
			version = v;
			return v;
		}
		const handler = options.handler ?? "index.handler";
		const file = handler.slice(0, handler.lastIndexOf("."));
		const hasHandler = [".mjs", ".js", ".cjs", ""].some((ext) =>
			names.has(`${file}${ext}`),
		);
		const bootstrap = entries.find((e) => e.name === "bootstrap");
		const runtime =
			options.runtime ?? (bootstrap && !hasHandler ? "provided" : "nodejs");
		if (runtime === "nodejs" && !hasHandler)
			throw new CoreError(
				"INVALID_BUNDLE",
				`${zip} has no ${file}.mjs/.js/.cjs for handler "${handler}" (and no bootstrap)`,
			);
		if (
			runtime === "provided" &&
			(!bootstrap || (bootstrap.mode & 0o111) === 0)
		)
			throw new CoreError(
				"INVALID_BUNDLE",
				`${zip}: runtime "provided" needs an executable bootstrap at the root`,
			);
		packages.set(v, { dir, runtime, handler });
		version = v;
		return v;
	}

	function newSlot(): Slot {
		const pkg = packages.get(version) as {
			dir: string;
			runtime: LambdaRuntime;
			handler: string;
		};
		const id = `fn-${nextInstance++}`;
		const onLine = log ? (line: string) => log(`${id}\t${line}`) : undefined;
		const instance: FunctionInstance =
			provider === "gcp"
				? new GcpInstance({
						id,
						version,
						sourceDir: pkg.dir,
						target: pkg.handler,
						functionName,
						memoryMb,
						initTimeoutMs,
						cgroup: useCgroup,
						onLine,
					})
				: new LambdaInstance({
						id,
						version,
						taskRoot: pkg.dir,
						runtime: pkg.runtime,
						handler: pkg.handler,
						functionName,
						memoryMb,
						initTimeoutMs,
						cgroup: useCgroup,
						onLine,
					});
		const slot: Slot = {
			instance,
			state: "init",
			inFlight: 0,
			invocations: 0,
			lastUsed: 0,
		};
		slots.add(slot);
		counters.instancesCreated++;
		counters.peakInstances = Math.max(counters.peakInstances, slots.size);
		return slot;
	}

	async function retire(slot: Slot): Promise<void> {
		clearTimeout(slot.idleTimer);
		if (!slots.delete(slot)) return;
		// A frozen process cannot act on SIGTERM: thaw it so it can exit cleanly.
		if (slot.frozen) signal(slot, "SIGCONT");
		await slot.instance.stop();
		await cleanupPackages();
		// A freed place may let a waiting request start an instance.
		wakeWaiter();
	}

	async function cleanupPackages(): Promise<void> {
		for (const [v, pkg] of packages) {
			if (v === version) continue;
			if ([...slots].some((s) => s.instance.version === v)) continue;
			packages.delete(v);
			await rm(pkg.dir, { recursive: true, force: true });
		}
	}

	/** A current-version instance with room for one more request, the most recently used first. */
	function warmSlot(): Slot | undefined {
		let best: Slot | undefined;
		for (const slot of [...slots]) {
			// An idle instance whose process died meanwhile (killed, crashed in the background) frees its place.
			if (slot.instance.exited && slot.inFlight === 0) {
				void retire(slot);
				continue;
			}
			if (
				slot.instance.version !== version ||
				slot.instance.exited ||
				slot.inFlight >= capacity
			)
				continue;
			// An instance still in init takes more requests only when it serves several at once (gcp).
			if (slot.state === "init" && capacity === 1) continue;
			if (!best || slot.lastUsed > best.lastUsed) best = slot;
		}
		return best;
	}

	/** Takes a place on an instance (warm, or a new one within the limit). */
	function take(): Slot | undefined {
		const slot =
			warmSlot() ??
			(slots.size < concurrency && !stopping ? newSlot() : undefined);
		if (slot) {
			clearTimeout(slot.idleTimer);
			if (slot.frozen) signal(slot, "SIGCONT");
			slot.inFlight++;
		}
		return slot;
	}

	function wakeWaiter(): void {
		while (waiters.length > 0) {
			const slot = take();
			if (!slot) return;
			const waiter = waiters.shift() as Waiter;
			clearTimeout(waiter.timer);
			waiter.resolve(slot);
		}
	}

	function release(slot: Slot): void {
		slot.inFlight--;
		slot.lastUsed = performance.now();
		if (slot.instance.exited || stopping || slot.instance.version !== version) {
			if (slot.inFlight === 0) void retire(slot);
			return;
		}
		if (slot.inFlight === 0) idle(slot);
		wakeWaiter();
	}

	/** Marks an instance idle: frozen if asked, reaped after the idle timeout unless provisioned. */
	function idle(slot: Slot): void {
		slot.state = "idle";
		if (options.freeze) signal(slot, "SIGSTOP");
		const reap = () => {
			if (slot.inFlight !== 0) return;
			// Provisioned instances are kept: only those beyond the minimum are reaped.
			if (currentSlots() <= minInstances && slot.instance.version === version) {
				slot.idleTimer = setTimeout(reap, idleTimeoutMs);
				slot.idleTimer.unref();
				return;
			}
			void retire(slot);
		};
		slot.idleTimer = setTimeout(reap, idleTimeoutMs);
		slot.idleTimer.unref();
	}

	function currentSlots(): number {
		return [...slots].filter(
			(s) => s.instance.version === version && !s.instance.exited,
		).length;
	}

	/** Starts instances until `minInstances` of the current version exist; resolves when they are ready. */
	async function provision(): Promise<void> {
		const started: Promise<void>[] = [];
		while (
			currentSlots() < minInstances &&
			slots.size < concurrency &&
			!stopping
		) {
			const slot = newSlot();
			// Initialised ahead of any request: its first invocation is not a cold start.
			slot.coldClaimed = true;
			slot.inFlight++;
			started.push(
				slot.instance.ready().then(
					async () => {
						const { initDurationMs, phases } = slot.instance.coldStart;
						const record = {
							type: "INIT_REPORT",
							instance: slot.instance.id,
							pid: slot.instance.pid,
							version: slot.instance.version,
							initDurationMs,
							phases,
							message: `INIT_REPORT Init Duration: ${(initDurationMs ?? 0).toFixed(2)} ms\tPhase: init\tStatus: success`,
						};
						const line = JSON.stringify(record);
						log?.(line);
						await appendReportLine(line);
						slot.inFlight--;
						if (slot.instance.version !== version || stopping)
							void retire(slot);
						else {
							idle(slot);
							wakeWaiter();
						}
					},
					async () => {
						slot.inFlight--;
						await retire(slot);
					},
				),
			);
		}
		await Promise.all(started);
	}

	async function acquire(): Promise<Slot | undefined> {
		const slot = take();
		if (slot) return slot;
		if (queueTimeoutMs <= 0) return undefined;
		return new Promise<Slot | undefined>((resolveSlot) => {
			const waiter: Waiter = {
				resolve: resolveSlot,
				timer: setTimeout(() => {
					waiters.splice(waiters.indexOf(waiter), 1);
					resolveSlot(undefined);
				}, queueTimeoutMs),
			};
			waiters.push(waiter);
		});
	}

	/** Appends a line to the report file, in order, off the request path; `stop()` waits for the last. */
	function appendReportLine(line: string): Promise<void> {
		const file = options.reportFile;
		if (!file) return reportWrites;
		reportWrites = reportWrites
			.then(() => appendFile(file, `${line}\n`))
			.catch((error: unknown) => {
				process.stderr.write(
					`mdp-serverless: cannot append to the report file ${file}: ${(error as Error).message}\n`,
				);
			});
		return reportWrites;
	}

	function writeReport(report: InvocationReport): void {
		reports.push(report);
		if (!log && !options.reportFile) return;
		const line = JSON.stringify(report);
		log?.(line);
		void appendReportLine(line);
	}

	/**
	 * Serves one request: takes an instance, invokes it and hands the outcome to `send`. As on Lambda, the
	 * REPORT record is written after the response has gone out, so its cost (reading the memory peaks,
	 * formatting) is not on the request's path; it is still written, and the instance released, in the
	 * same turn of the event loop as the response, before the next request can be taken.
	 */
	async function handle(
		request: GatewayRequest,
		send: (response: GatewayResponse) => void,
	): Promise<void> {
		const requestId = randomUUID();
		const slot = await acquire();
		if (!slot) {
			counters.throttles++;
			send(
				jsonResponse(
					429,
					{
						message: "Too Many Requests",
						errorType: "TooManyRequestsException",
						reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
						error: `rate exceeded: all ${concurrency} instances of ${functionName} are busy (concurrency limit ${concurrency})`,
					},
					[["retry-after", "1"]],
				),
			);
			return;
		}
		const cold =
			slot.invocations === 0 && slot.state === "init" && !slot.coldClaimed;
		if (cold) slot.coldClaimed = true;
		if (slot.state !== "init") slot.state = "busy";
		const instance = slot.instance;
		counters.invocations++;
		if (cold) counters.coldStarts++;
		let outcome: InvokeOutcome;
		let durationMs = 0;
		try {
			if (slot.state === "init") await instance.ready();
			slot.state = "busy";
			const started = performance.now();
			outcome = await instance.invoke(request, requestId, timeoutMs);
			durationMs = performance.now() - started;
		} catch (error) {
			const failure =
				error instanceof InitFailure
					? error
					: new InitFailure(
							String(error),
							"Runtime.Unknown",
							jsonResponse(502, {
								errorType: "Runtime.Unknown",
								errorMessage: String(error),
							}),
						);
			outcome = {
				kind: "failure",
				response: failure.response,
				errorType: failure.errorType,
				instanceLost: true,
			};
			await instance.stop(0);
		}
		send(outcome.response);
		slot.invocations++;
		const memory = instance.maxMemoryUsedBytes();
		const status = outcome.response.status;
		const billed = Math.max(1, Math.ceil(durationMs));
		const init = cold ? instance.coldStart.initDurationMs : undefined;
		const phases = instance.coldStart.phases;
		writeReport({
			type: "REPORT",
			requestId,
			instance: instance.id,
			pid: instance.pid,
			version: instance.version,
			method: request.method,
			path: request.path,
			status,
			durationMs: round(durationMs),
			billedDurationMs: billed,
			memorySizeMb: memoryMb,
			...(memory === undefined
				? {}
				: { maxMemoryUsedMb: Math.ceil(memory / 2 ** 20) }),
			...(init === undefined ? {} : { initDurationMs: round(init) }),
			...(cold
				? {
						coldStart: {
							...(phases
								? {
										spawnMs: round(
											phases.processStartEpochMs -
												instance.coldStart.spawnEpochMs,
										),
										runtimeMs: phases.runtimeMs,
										onnxRuntimeLoadMs: phases.onnxRuntimeLoadMs,
										sessionMs: phases.sessionMs,
										...(phases.warmUpMs === undefined
											? {}
											: { warmUpMs: phases.warmUpMs }),
									}
								: {}),
							firstInferenceMs: round(durationMs),
							firstResponseMs: round(Date.now() - request.receivedEpochMs),
						},
					}
				: {}),
			...(outcome.kind === "failure" ? { errorType: outcome.errorType } : {}),
			message: `REPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${billed} ms\tMemory Size: ${memoryMb} MB\tMax Memory Used: ${memory === undefined ? "?" : Math.ceil(memory / 2 ** 20)} MB${init === undefined ? "" : `\tInit Duration: ${init.toFixed(2)} ms`}${outcome.kind === "failure" ? `\tStatus: error\tError Type: ${outcome.errorType}` : ""}`,
		});
		if (outcome.kind === "failure" && outcome.instanceLost) {
			slot.inFlight--;
			void retire(slot);
		} else release(slot);
	}

	try {
		await unpack(options.zip);
	} catch (error) {
		await rm(work, { recursive: true, force: true });
		throw error;
	}
	const server: Server = createServer(serve);
	function serve(req: IncomingMessage, res: ServerResponse): void {
		const receivedEpochMs = Date.now();
		const send = (response: GatewayResponse) => {
			if (res.headersSent || res.destroyed) return;
			const headers: Record<string, string | string[]> = {};
			for (const [name, value] of response.headers) {
				const key = name.toLowerCase();
				if (
					key === "content-length" ||
					key === "transfer-encoding" ||
					key === "connection"
				)
					continue;
				const prior = headers[key];
				headers[key] =
					prior === undefined
						? value
						: Array.isArray(prior)
							? [...prior, value]
							: [prior, value];
			}
			headers["content-length"] = String(response.body.byteLength);
			res.writeHead(response.status, headers);
			res.end(response.body);
		};
		const chunks: Buffer[] = [];
		let size = 0;
		let tooLarge = false;
		const onData = (chunk: Buffer) => {
			size += chunk.byteLength;
			if (size <= MAX_REQUEST_BYTES) {
				chunks.push(chunk);
				return;
			}
			tooLarge = true;
			chunks.length = 0;
			req.off("data", onData);
			req.pause();
			res.setHeader("connection", "close");
			send(
				jsonResponse(413, {
					message: "Request Entity Too Large",
					error: `request body is over ${MAX_REQUEST_BYTES} bytes, the payload limit of a synchronous invocation`,
				}),
			);
		};
		req.on("data", onData);
		req.on("error", () => {});
		req.on("end", () => {
			if (tooLarge) return;
			if (stopping) {
				send(
					jsonResponse(
						503,
						{
							message: "Service Unavailable",
							error: "the platform is stopping",
						},
						[["retry-after", "1"]],
					),
				);
				return;
			}
			const url = req.url ?? "/";
			const q = url.indexOf("?");
			const raw = req.rawHeaders;
			const headers: [string, string][] = [];
			for (let i = 0; i + 1 < raw.length; i += 2)
				headers.push([raw[i] as string, raw[i + 1] as string]);
			handle(
				{
					method: req.method ?? "GET",
					path: q < 0 ? url : url.slice(0, q),
					rawQuery: q < 0 ? "" : url.slice(q + 1),
					headers,
					body:
						chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks),
					sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
					receivedEpochMs,
				},
				send,
			).catch((error: unknown) => {
				send(
					jsonResponse(502, {
						message: "Internal Server Error",
						error: `platform error: ${(error as Error).message}`,
					}),
				);
			});
		});
	}
	server.keepAliveTimeout = 65_000;
	try {
		await new Promise<void>((resolveListen, reject) => {
			server.once("error", reject);
			server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () =>
				resolveListen(),
			);
		});
	} catch (error) {
		await rm(work, { recursive: true, force: true });
		throw new CoreError(
			"UNAVAILABLE",
			`cannot listen on port ${options.port}: ${(error as Error).message}`,
			{ cause: error },
		);
	}
	const { port } = server.address() as AddressInfo;
	const host = options.host ?? "127.0.0.1";
	let stopped: Promise<void> | undefined;
	return {
		url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
		port,
		gatewayPid: process.pid,
		instances: () =>
			[...slots].map((s) => ({
				id: s.instance.id,
				pid: s.instance.pid,
				state: s.state,
				version: s.instance.version,
				frozen: s.frozen === true,
			})),
		reports: () => reports,
		stats: () => ({ ...counters }),
		async switchZip(zip: string): Promise<number> {
			const v = await unpack(zip);
			for (const slot of [...slots])
				if (slot.instance.version !== v && slot.inFlight === 0)
					void retire(slot);
			await provision();
			return v;
		},
		async scale(instances: number): Promise<void> {
			if (
				!Number.isInteger(instances) ||
				instances < 0 ||
				instances > concurrency
			)
				throw new CoreError(
					"INVALID_ARGUMENT",
					`cannot provision ${instances} instances: expected an integer from 0 to the concurrency limit (${concurrency})`,
				);
			minInstances = instances;
			// Beyond the new minimum, idle instances go now.
			const spare = [...slots].filter(
				(s) => s.inFlight === 0 && s.state === "idle",
			);
			for (const slot of spare.slice(
				0,
				Math.max(0, currentSlots() - instances),
			))
				void retire(slot);
			await provision();
		},
		stop() {
			stopped ??= (async () => {
				stopping = true;
				for (const waiter of waiters.splice(0)) {
					clearTimeout(waiter.timer);
					waiter.resolve(undefined);
				}
				// Requests in flight finish (bounded by their timeout); new ones get 503.
				const closed = new Promise<void>((r) => server.close(() => r()));
				const sweep = setInterval(() => server.closeIdleConnections(), 50);
				server.closeIdleConnections();
				const deadline = Date.now() + timeoutMs + 1000;
				while ([...slots].some((s) => s.inFlight > 0) && Date.now() < deadline)
					await new Promise((r) => setTimeout(r, 20));
				await Promise.all([...slots].map((s) => retire(s)));
				server.closeAllConnections();
				await closed;
				clearInterval(sweep);
				await reportWrites;
				await rm(work, { recursive: true, force: true });
			})();
			return stopped;
		},
	};
}

function round(ms: number): number {
	return Math.round(ms * 100) / 100;
}
