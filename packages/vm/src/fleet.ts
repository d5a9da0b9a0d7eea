import { randomBytes } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { cp, mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
	CoreError,
	type Deployment,
	type DeploymentUnit,
	isCoreError,
	type ModelUpdate,
	readServedModel,
	toLimitArgs,
} from "@mdp/core";
import {
	type Balancer,
	type HealthCheckOptions,
	startEmbeddedBalancer,
	startHaproxyBalancer,
	type UpstreamState,
} from "@mdp/core/balancer";
import { buildServer } from "@mdp/core/build";
import { type AdminClient, createAdminClient } from "@mdp/core/http";
import {
	freePort,
	type ReadyProcess,
	spawnUntilReady,
} from "@mdp/core/process";
import { type AutoscaleOptions, createAutoscaler } from "./autoscaler.ts";
import {
	type CgroupSupport,
	createInstanceCgroup,
	detectCgroups,
	type InstanceCgroup,
	type InstanceSize,
	parseInstanceSize,
} from "./instance-size.ts";

/** Options of {@link start}. */
export interface VmOptions {
	/** The model bundle the instances serve. */
	bundle: string;
	/** Instances to start with. Default 2 (or `autoscale.min` when larger). */
	replicas?: number;
	/** `embedded` (default): core's balancer in this process; `haproxy`: a real HAProxy process. */
	lb?: "embedded" | "haproxy";
	/** Port of the balancer (the fleet's one endpoint); 0 (default) picks a free one. */
	port?: number;
	/** Address of the balancer. Default 127.0.0.1. */
	hostname?: string;
	/** CPU and memory per instance, like a machine type (`1cpu-512mb`), applied with cgroups when possible. */
	instanceSize?: string | InstanceSize;
	/**
	 * Scale between `min` and `max` on requests in flight per instance. Off when absent. With `min: 0` and
	 * the embedded balancer the fleet scales from zero: requests wait while the first instance starts.
	 */
	autoscale?: AutoscaleOptions;
	/**
	 * A server already built by `buildServer` (`<dir>/mdp-serve.mjs`): used as is and not removed. By default
	 * the fleet builds its own into a temp dir it removes on stop.
	 */
	artifact?: string;
	/** Limits every instance enforces (`--max-body-bytes`, `--max-records`), reported by the deployment. */
	limits?: { maxBodyBytes?: number; maxRecords?: number };
	/** More arguments for every instance's server (`--batch-max-rows 0`, …). */
	serverArgs?: string[];
	/** Balancer health checks. Default every 500 ms, 400 ms timeout, out after 2 failures, in after 1 success. */
	healthCheck?: HealthCheckOptions;
	/** An instance unhealthy (frozen, hung) this long is killed and replaced. Default 4,000 ms. */
	replaceUnhealthyAfterMs?: number;
	/** Appends every log line (JSON lines, tagged with the instance) to this file. */
	logFile?: string;
	/** Every log line, as it comes. */
	onLog?: (entry: LogEntry) => void;
	/** Every fleet event (start, death, replacement, scale, update), as it happens. */
	onEvent?: (event: FleetEvent) => void;
}

/** One log line of the fleet: an instance's own line (parsed when JSON) or the fleet's. */
export interface LogEntry {
	time: string;
	/** `vm-3`, or `fleet` for the fleet's own events. */
	instance: string;
	stream: "stdout" | "stderr" | "event";
	/** The line parsed when it is JSON, else the text. */
	line: unknown;
}

/** Something the fleet did or saw. */
export interface FleetEvent {
	type:
		| "instance-ready"
		| "instance-died"
		| "instance-frozen"
		| "instance-stopped"
		| "scale"
		| "update-instance"
		| "update-done"
		| "update-failed"
		| "notice";
	instance?: string;
	/** `performance.now()` of the event. */
	at: number;
	detail?: string;
	/** For `scale`: the count asked for, and (autoscaler) the signal that decided it. */
	replicas?: number;
	/** For `instance-ready`: spawn to ready, and decision to serving when scaling. */
	readyMs?: number;
}

/** What `status()` answers: the data of the CLI's status line. */
export interface FleetStatus {
	instances: number;
	ready: number;
	inFlight: number;
	/** Requests per second through the balancer since the previous `status()`. */
	requestsPerSecond: number;
	replacements: number;
	model: ModelUpdate["to"];
	upstreams: UpstreamState[];
}

/** The deployment `start` returns: the core `Deployment` plus the fleet's own views. */
export interface VmDeployment extends Deployment {
	readonly balancer: Balancer;
	/** Instances replaced after they died or froze, since the start. */
	readonly replacements: number;
	/** Everything the fleet did, in order. */
	readonly events: readonly FleetEvent[];
	status(): Promise<FleetStatus>;
	scale(replicas: number): Promise<void>;
	updateModel(bundleDir: string): Promise<ModelUpdate>;
	rollback(): Promise<ModelUpdate>;
	/** Where cgroups come from, or why instances run without limits. */
	readonly cgroups: string;
}

interface Instance {
	id: string;
	host: string;
	port: number;
	proc: ReadyProcess;
	admin: AdminClient;
	/** Its private model repository root (`<root>/<model name>` is the bundle served). */
	root: string;
	cgroup: InstanceCgroup | undefined;
	stopping: boolean;
	unhealthySince: number | undefined;
}

type Served = ModelUpdate["to"];

/**
 * Starts a VM-pattern fleet on this machine: the server built once by `buildServer`, replicated as
 * process-isolated instances (no hypervisor) on their own loopback addresses (127.0.1.N), behind one load
 * balancer (core's embedded one, or HAProxy). Instances that die or freeze are replaced; `scale` adds and
 * drains instances; `updateModel` rolls a new bundle out one instance at a time through each server's
 * repository API (drain, hot swap, readiness, back in), stopping at the first instance that refuses it.
 *
 * @example
 * import { referenceBundleDir } from "@mdp/core";
 * import { start } from "@mdp/vm";
 * const fleet = await start({ bundle: referenceBundleDir, replicas: 3 });
 * console.log(fleet.url, fleet.units());
 * await fleet.updateModel("models/penguins-v2");
 * await fleet.stop();
 */
export async function start(options: VmOptions): Promise<VmDeployment> {
	const fleetDir = await mkdtemp(join(tmpdir(), "mdp-vm-"));
	const fleetId = fleetDir.slice(-6).replace(/[^A-Za-z0-9]/g, "x");
	const token = randomBytes(24).toString("hex");
	const events: FleetEvent[] = [];
	const instances = new Map<string, Instance>();
	const history: string[] = [];
	let current: Served;
	let currentDir: string;
	let balancer: Balancer | undefined;
	let logStream: WriteStream | undefined;
	let stopped = false;
	let replacements = 0;
	let sequence = 0;
	let bundles = 0;
	let lastTotals = { at: performance.now(), total: 0 };
	const timers: NodeJS.Timeout[] = [];
	const size =
		typeof options.instanceSize === "string"
			? parseInstanceSize(options.instanceSize)
			: options.instanceSize;
	let cgroups: CgroupSupport | undefined;
	let cgroupNote = "no instance size asked";

	const log = (entry: LogEntry) => {
		options.onLog?.(entry);
		logStream?.write(`${JSON.stringify(entry)}\n`);
	};
	const emit = (event: Omit<FleetEvent, "at">) => {
		const full = { ...event, at: performance.now() };
		events.push(full);
		options.onEvent?.(full);
		log({
			time: new Date().toISOString(),
			instance: event.instance ?? "fleet",
			stream: "event",
			line: event,
		});
	};

	// One membership change at a time (scale, update, heal): each sees a settled fleet.
	let queue: Promise<unknown> = Promise.resolve();
	const serial = <T>(task: () => Promise<T>): Promise<T> => {
		const run = queue.then(task, task);
		queue = run.catch(() => undefined);
		return run;
	};

	async function storeBundle(dir: string): Promise<string> {
		const stored = join(fleetDir, "bundles", String(++bundles));
		await cp(resolve(dir), stored, { recursive: true });
		return stored;
	}

	/** Puts `bundleDir` at `<root>/<name>` (copy beside, rename over); returns where the old one went. */
	async function place(
		root: string,
		bundleDir: string,
		name: string,
	): Promise<string> {
		const staging = join(root, `.incoming-${++bundles}`);
		await cp(bundleDir, staging, { recursive: true });
		const previous = join(root, `.previous-${bundles}`);
		await rename(join(root, name), previous).catch(() => undefined);
		await rename(staging, join(root, name));
		return previous;
	}

	let artifact: string;
	const limitArgs = toLimitArgs(options.limits);

	async function launch(): Promise<Instance> {
		const n = (sequence++ % 250) + 1;
		const id = `vm-${sequence}`;
		const host = `127.0.1.${n}`;
		const root = join(fleetDir, "instances", id);
		await mkdir(root, { recursive: true });
		await cp(currentDir, join(root, current.name), { recursive: true });
		const cgroup =
			cgroups && size
				? await createInstanceCgroup(cgroups, `mdp-vm-${fleetId}-${id}`, size)
				: undefined;
		let proc: ReadyProcess;
		try {
			proc = await spawnUntilReady({
				command: [
					...(cgroup?.wrapper ?? []),
					process.execPath,
					join(artifact, "mdp-serve.mjs"),
					"--host",
					host,
					"--port",
					"0",
					"--bundle",
					join(root, current.name),
					"--model-root",
					root,
					...limitArgs,
					...(options.serverArgs ?? []),
				],
				env: { MDP_ADMIN_TOKEN: token },
				timeoutMs: 60_000,
				onLine: (line, stream) => {
					let parsed: unknown = line;
					if (line.startsWith("{")) {
						try {
							parsed = JSON.parse(line);
						} catch {
							// Not JSON after all: keep the text.
						}
					}
					log({
						time: new Date().toISOString(),
						instance: id,
						stream,
						line: parsed,
					});
				},
			});
		} catch (error) {
			await cgroup?.remove();
			await rm(root, { recursive: true, force: true });
			throw error;
		}
		const instance: Instance = {
			id,
			host,
			port: Number(new URL(proc.url).port),
			proc,
			admin: createAdminClient({ url: proc.url, token }),
			root,
			cgroup,
			stopping: false,
			unhealthySince: undefined,
		};
		instances.set(id, instance);
		void proc.exited.then((status) => {
			void cgroup?.remove();
			if (instance.stopping || stopped) return;
			emit({
				type: "instance-died",
				instance: id,
				detail: status.signal ?? `exit code ${status.code}`,
			});
			void heal(instance);
		});
		return instance;
	}

	/** Starts an instance and puts it in the pool once ready. */
	async function addInstance(decidedAt = performance.now()): Promise<Instance> {
		const instance = await launch();
		await (balancer as Balancer).add(
			{ id: instance.id, host: instance.host, port: instance.port },
			{ waitHealthy: true, timeoutMs: 30_000 },
		);
		emit({
			type: "instance-ready",
			instance: instance.id,
			readyMs: performance.now() - decidedAt,
			detail: `pid ${instance.proc.pid} on ${instance.host}:${instance.port}`,
		});
		return instance;
	}

	/** Out of the pool, drained, stopped (SIGTERM: the server drains too), cleaned up. */
	async function removeInstance(instance: Instance): Promise<void> {
		instance.stopping = true;
		const lb = balancer as Balancer;
		await lb.drain(instance.id, { timeoutMs: 30_000 }).catch(() => undefined);
		await lb.remove(instance.id);
		instances.delete(instance.id);
		await instance.proc.stop(10_000);
		await instance.cgroup?.remove();
		await rm(instance.root, { recursive: true, force: true });
		emit({ type: "instance-stopped", instance: instance.id });
	}

	function heal(dead: Instance): Promise<void> {
		// Out of the pool at once (its connections closed), then replaced.
		instances.delete(dead.id);
		dead.stopping = true;
		const removed = balancer?.remove(dead.id).catch(() => undefined);
		return serial(async () => {
			await removed;
			if (stopped) return;
			await rm(dead.root, { recursive: true, force: true });
			replacements++;
			try {
				await addInstance();
			} catch (error) {
				emit({
					type: "notice",
					detail: `replacement of ${dead.id} failed: ${(error as Error).message}`,
				});
			}
		});
	}

	/** Kills instances the balancer has seen unhealthy for too long (frozen, hung); `heal` replaces them. */
	async function watch(): Promise<void> {
		if (stopped || !balancer) return;
		const states = await balancer.list().catch(() => []);
		const now = performance.now();
		for (const state of states) {
			const instance = instances.get(state.id);
			if (!instance || instance.stopping || state.draining) continue;
			if (state.healthy) {
				instance.unhealthySince = undefined;
				continue;
			}
			instance.unhealthySince ??= now;
			if (
				now - instance.unhealthySince >
				(options.replaceUnhealthyAfterMs ?? 4000)
			) {
				emit({
					type: "instance-frozen",
					instance: instance.id,
					detail: "unhealthy too long: killed and replaced",
				});
				instance.unhealthySince = undefined;
				// SIGKILL works on a stopped (SIGSTOP) process too; its exit triggers the replacement.
				instance.proc.child.kill("SIGKILL");
			}
		}
	}

	async function scaleTo(replicas: number, decidedAt = performance.now()) {
		if (!Number.isInteger(replicas) || replicas < 0)
			throw new CoreError(
				"INVALID_ARGUMENT",
				`replicas must be a non-negative integer, got ${replicas}`,
			);
		const live = [...instances.values()].filter((i) => !i.stopping);
		if (replicas === live.length) return;
		emit({
			type: "scale",
			replicas,
			detail: `${live.length} → ${replicas}`,
		});
		if (replicas > live.length) {
			await Promise.all(
				Array.from({ length: replicas - live.length }, () =>
					addInstance(decidedAt),
				),
			);
		} else {
			// Newest first: the oldest instances are the best warmed up.
			const victims = live.slice(replicas).reverse();
			await Promise.all(victims.map(removeInstance));
		}
	}

	/** One instance: out of the pool, drained, hot swap, back in once ready. */
	async function updateInstance(
		instance: Instance,
		bundleDir: string,
		name: string,
	): Promise<void> {
		const lb = balancer as Balancer;
		instance.stopping = true; // not "unhealthy too long" while it is drained on purpose
		try {
			await lb.drain(instance.id, { timeoutMs: 30_000 });
			await adminDrain(instance);
			const previous = await place(instance.root, bundleDir, name);
			try {
				await instance.admin.load(name);
			} catch (error) {
				// Refused: the server still serves the old model; put its bundle back in its folder.
				await rm(join(instance.root, name), { recursive: true, force: true });
				await rename(previous, join(instance.root, name)).catch(
					() => undefined,
				);
				throw error;
			} finally {
				await rejoin(instance);
			}
			await rm(previous, { recursive: true, force: true });
		} finally {
			instance.stopping = false;
		}
	}

	let drainRouteMissing = false;
	async function adminDrain(instance: Instance): Promise<void> {
		if (drainRouteMissing) return;
		try {
			await instance.admin.drain({ timeoutMs: 10_000 });
		} catch (error) {
			if (isCoreError(error) && error.code === "NOT_FOUND") {
				drainRouteMissing = true;
				emit({
					type: "notice",
					detail:
						"the instances have no POST /v2/admin/drain: rolling updates drain through the balancer only",
				});
				return;
			}
			throw error;
		}
	}

	async function rejoin(instance: Instance): Promise<void> {
		if (!drainRouteMissing)
			await instance.admin.resume().catch(() => undefined);
		const lb = balancer as Balancer;
		await lb.remove(instance.id);
		await lb.add(
			{ id: instance.id, host: instance.host, port: instance.port },
			{ waitHealthy: true, timeoutMs: 30_000 },
		);
	}

	async function rollOut(dir: string): Promise<ModelUpdate> {
		// The bundle is verified (manifest, hash) before any instance is touched.
		const next = await readServedModel(dir);
		const stored = await storeBundle(dir);
		const from = current;
		const done: Instance[] = [];
		const order = [...instances.values()].filter((i) => !i.stopping);
		for (const instance of order) {
			try {
				await updateInstance(instance, stored, next.name);
				done.push(instance);
				emit({
					type: "update-instance",
					instance: instance.id,
					detail: `${next.version} (${next.sha256.slice(0, 12)})`,
				});
			} catch (error) {
				// Put the instances already updated back on the old model: the fleet serves one model.
				for (const back of done)
					await updateInstance(back, currentDir, from.name).catch(
						() => undefined,
					);
				await rm(stored, { recursive: true, force: true });
				const reason = `rollout stopped at ${instance.id} (${done.length} of ${order.length} updated, reverted); the fleet keeps serving ${from.name} ${from.version}: ${(error as Error).message}`;
				emit({ type: "update-failed", instance: instance.id, detail: reason });
				throw new CoreError("INVALID_BUNDLE", reason, { cause: error });
			}
		}
		current = next;
		currentDir = stored;
		emit({
			type: "update-done",
			detail: `${from.name} ${from.version} (${from.sha256.slice(0, 12)}) → ${next.version} (${next.sha256.slice(0, 12)}) on ${done.length} instances`,
		});
		return { from, to: next, updated: done.length };
	}

	async function stopAll(): Promise<void> {
		stopped = true;
		for (const t of timers) clearInterval(t);
		await queue;
		const all = [...instances.values()];
		for (const i of all) i.stopping = true;
		// The balancer goes first (no new requests), then every instance drains and stops.
		await balancer?.close();
		await Promise.all(
			all.map(async (i) => {
				await i.proc.stop(10_000);
				await i.cgroup?.remove();
			}),
		);
		instances.clear();
		await new Promise<void>((r) => (logStream ? logStream.end(r) : r()));
		await rm(fleetDir, { recursive: true, force: true });
	}

	try {
		current = await readServedModel(options.bundle);
		currentDir = await storeBundle(options.bundle);
		history.push(currentDir);
		if (options.logFile)
			logStream = createWriteStream(options.logFile, { flags: "a" });
		if (size) {
			const support = detectCgroups();
			if ("version" in support) {
				cgroups = support;
				cgroupNote = `cgroup v${support.version}: ${size.cpus} CPU, ${Math.round(size.memoryBytes / 1024 ** 2)} MiB per instance`;
			} else {
				cgroupNote = `instance size not applied (${support.unavailable}); instances run without limits`;
				emit({ type: "notice", detail: cgroupNote });
			}
		}
		if (options.artifact) artifact = resolve(options.artifact);
		else {
			artifact = join(fleetDir, "server");
			await buildServer({ out: artifact, bundle: options.bundle });
		}
		const healthCheck = {
			intervalMs: 500,
			timeoutMs: 400,
			fall: 2,
			rise: 1,
			...options.healthCheck,
		};
		balancer =
			options.lb === "haproxy"
				? await startHaproxyBalancer({
						port: options.port || (await freePort(options.hostname)),
						hostname: options.hostname,
						healthCheck,
					})
				: await startEmbeddedBalancer({
						port: options.port,
						hostname: options.hostname,
						healthCheck,
						// Scale from zero: with no instance, requests wait while one starts.
						...(options.autoscale?.min === 0
							? {
									hold: { maxRequests: 1000, timeoutMs: 30_000 },
									onEmpty: () => {
										if (stopped) return;
										emit({
											type: "notice",
											detail: "request with no instance: scaling from zero",
										});
										void serial(() =>
											scaleTo(Math.max(1, instances.size)),
										).catch(() => undefined);
									},
								}
							: {}),
					});
		const initial = Math.max(
			options.replicas ?? (options.autoscale ? options.autoscale.min : 2),
			options.autoscale?.min ?? 0,
		);
		await scaleTo(initial);
	} catch (error) {
		await stopAll();
		throw error;
	}
	const lb = balancer;

	timers.push(setInterval(() => void watch(), 250));
	if (options.autoscale) {
		const scaler = createAutoscaler(options.autoscale);
		const bounds = options.autoscale;
		let busy = false;
		timers.push(
			setInterval(async () => {
				if (busy || stopped) return;
				busy = true;
				try {
					// Every instance that is not draining counts, healthy or not: under heavy load an instance's
					// readiness probe can time out while it still serves, and dropping it from the signal would
					// hide exactly the load that should scale the fleet out. Dead instances are replaced apart.
					const states = await lb.list();
					const serving = states.filter((s) => !s.draining);
					const want = scaler.decide({
						at: performance.now(),
						instances: serving.length,
						inFlight: serving.reduce((n, s) => n + s.inFlight, 0),
					});
					if (want !== undefined) {
						const decidedAt = performance.now();
						await serial(() =>
							scaleTo(
								Math.min(bounds.max, Math.max(bounds.min, want)),
								decidedAt,
							),
						);
					}
				} catch (error) {
					emit({
						type: "notice",
						detail: `autoscaler: ${(error as Error).message}`,
					});
				} finally {
					busy = false;
				}
			}, options.autoscale.intervalMs ?? 250),
		);
	}

	let stopping: Promise<void> | undefined;
	const deployment: VmDeployment = {
		pattern: "vm",
		url: lb.url,
		limits: options.limits,
		balancer: lb,
		cgroups: cgroupNote,
		get replacements() {
			return replacements;
		},
		events,
		units(): DeploymentUnit[] {
			return [
				...[...instances.values()].map((i) => ({
					role: "instance",
					id: i.id,
					pid: i.proc.pid,
				})),
				// The embedded balancer runs inside this process: no PID of its own.
				lb.kind === "haproxy"
					? { role: "balancer", id: "haproxy", pid: lb.pids()[0] }
					: { role: "balancer", id: "embedded" },
			];
		},
		async status() {
			const upstreams = await lb.list();
			const total = upstreams.reduce((n, u) => n + u.total, 0);
			const now = performance.now();
			const rate =
				((total - lastTotals.total) / Math.max(now - lastTotals.at, 1)) * 1000;
			lastTotals = { at: now, total };
			return {
				instances: instances.size,
				ready: upstreams.filter((u) => u.healthy && !u.draining).length,
				inFlight: upstreams.reduce((n, u) => n + u.inFlight, 0),
				requestsPerSecond: Math.max(0, rate),
				replacements,
				model: current,
				upstreams,
			};
		},
		scale: (replicas) => serial(() => scaleTo(replicas)),
		async updateModel(dir) {
			const update = await serial(() => rollOut(dir));
			history.push(currentDir);
			return update;
		},
		async rollback() {
			const before = history.at(-2);
			if (!before)
				throw new CoreError(
					"NOT_FOUND",
					"nothing to roll back to: the fleet still serves the bundle it started with",
				);
			const update = await serial(() => rollOut(before));
			history.splice(-2, 2, currentDir);
			return update;
		},
		stop() {
			stopping ??= stopAll();
			return stopping;
		},
	};
	return deployment;
}
