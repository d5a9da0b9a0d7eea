import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	CoreError,
	type Deployment,
	type DeploymentUnit,
	type ModelUpdate,
} from "@mdp/core";
import { startEmbeddedBalancer } from "@mdp/core/balancer";
import { freePort } from "@mdp/core/process";
import type Docker from "dockerode";
import { buildModelImage, imageModel } from "./build-image.ts";
import {
	connectEngine,
	type Engine,
	type EngineName,
	MANAGED_LABEL,
} from "./engine.ts";
import { LogCollector, type LogEntry } from "./log-collector.ts";

/** Label naming the deployment a container belongs to. */
export const DEPLOYMENT_LABEL = "org.mdp.deployment";

/** Options of {@link start}. */
export interface StartOptions {
	/** An engine, or which one to connect to. Default `docker`. */
	engine?: Engine | EngineName;
	/** Image to run (built by `mdp-container build`). Either this or `bundle`. */
	image?: string;
	/** A model bundle to build an image for first. */
	bundle?: string;
	/** Base image when building (default: the offline base). */
	base?: string;
	/** Repository part of the tags `updateModel` builds; default `mdp-<model>`. */
	repository?: string;
	/** Containers to run; default 1. */
	replicas?: number;
	/** CPU limit per container (cores, e.g. 0.5). */
	cpus?: number;
	/** CPUs the containers may run on (`0`, `0-1`), like `docker run --cpuset-cpus`: pins them to cores. */
	cpusetCpus?: string;
	/** Memory limit per container: bytes, or `512m`, `1g`. */
	memory?: number | string;
	/** Port of the balancer (the deployment's endpoint) on 127.0.0.1; default a free one. */
	port?: number;
	/**
	 * Scale to zero: containers stop after this long without a request; the next request is held while a
	 * container starts, then served.
	 */
	idleTimeoutMs?: number;
	/** JSON-lines file collecting every container's output; default `<tmpdir>/mdp-container-logs/<id>.jsonl`. */
	logFile?: string;
	/** Every log line, as it is collected. */
	onLog?: (entry: LogEntry) => void;
	/** Build progress and lifecycle events, one line each. */
	onProgress?: (line: string) => void;
	/** Limits passed to the server in each container. */
	limits?: { maxBodyBytes?: number; maxRecords?: number };
	/** Extra labels on every container and image this deployment creates. */
	labels?: Record<string, string>;
	/** How long a new container may take to become ready. Default 60 s. */
	readyTimeoutMs?: number;
	/** Restart policy of the containers (the engine restarts a crashed server). Default `on-failure`. */
	restartPolicy?: "no" | "on-failure" | "always" | "unless-stopped";
}

/** A cold start from zero, split by phase (milliseconds). */
export interface ColdStart {
	/** Request arrival to container created. */
	createMs: number;
	/** Engine start call (runtime sets up namespaces, cgroups, mounts). */
	startMs: number;
	/** Container started to server listening, minus the model load. */
	processStartMs: number;
	/** Model load as the server reported it. */
	modelLoadMs: number;
	/** Listening to the balancer's first successful health check. */
	readyMs: number;
	/** Request arrival until the request could be passed on to a ready container. */
	totalToReadyMs: number;
}

/** Per-container resource use from the engine's stats. */
export interface ContainerStats {
	name: string;
	memoryBytes: number;
	/** CPU use since the previous sample the engine keeps, in cores (1 = one core busy). */
	cpuCores: number;
}

/** The container deployment: the core {@link Deployment} and what only containers have. */
export interface ContainerDeployment extends Deployment {
	/** Deployment id (label `org.mdp.deployment`). */
	readonly id: string;
	readonly engine: Engine;
	/** The JSON-lines file with every container's output. */
	readonly logFile: string;
	/** Image the containers run now. */
	image(): string;
	/** Cold starts from zero seen so far. */
	readonly coldStarts: ColdStart[];
	/** Memory and CPU per container, from the engine. */
	stats(): Promise<ContainerStats[]>;
	/** Runs `replicas` containers (0 stops them all; the next request starts one when idleTimeoutMs is set). */
	scale(replicas: number): Promise<void>;
	/** Builds an image for the bundle and rolls the containers onto it. */
	updateModel(bundleDir: string): Promise<ModelUpdate>;
	/** Rolls the containers back onto the image before the last update. */
	rollback(): Promise<ModelUpdate>;
	/** Rolls the containers onto another image, one at a time (start new, wait ready, drain and remove old). */
	rollTo(image: string): Promise<number>;
}

interface Replica {
	name: string;
	container: Docker.Container;
	port: number;
	image: string;
	pid?: number;
	/** Passed its first health check. */
	ready: boolean;
	/** Being replaced or removed: the healer leaves it alone. */
	retiring: boolean;
}

/**
 * Runs a model in containers behind core's embedded load balancer on one loopback endpoint: N containers
 * with host networking, limits, a restart policy, a read-only root filesystem and no capabilities; a healer
 * that replaces a container that died; rolling updates and rollback between image tags; scale to zero with
 * requests held while a container starts; every container's output in one JSON-lines file.
 *
 * @example
 * const deployment = await start({ image: "mdp-penguins:1.0.0-96b478faa7b6", replicas: 2 });
 * await fetch(`${deployment.url}/predict`, { method: "POST", body: JSON.stringify({ records }) });
 * await deployment.updateModel("models/penguins-v2");
 * await deployment.stop();
 */
export async function start(
	options: StartOptions = {},
): Promise<ContainerDeployment> {
	const engine =
		typeof options.engine === "object"
			? options.engine
			: await connectEngine({ engine: options.engine });
	const progress = options.onProgress ?? (() => {});
	const replicasWanted = options.replicas ?? 1;
	if (!Number.isInteger(replicasWanted) || replicasWanted < 0)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`replicas must be a whole number ≥ 0, got ${replicasWanted}`,
		);
	if (!options.image && !options.bundle)
		throw new CoreError("INVALID_ARGUMENT", "start: give image or bundle");
	let current =
		options.image ??
		(
			await buildModelImage(engine, {
				bundle: options.bundle as string,
				base: options.base,
				labels: options.labels,
				onProgress: progress,
			})
		).tag;
	await imageModel(engine, current); // fails early on an image that is not ours or missing
	const history: string[] = [];
	const id = randomBytes(4).toString("hex");
	const adminToken = randomBytes(16).toString("hex");
	const memory = parseMemory(options.memory);
	const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
	const logs = new LogCollector(
		options.logFile ?? join(tmpdir(), "mdp-container-logs", `${id}.jsonl`),
		options.onLog,
	);
	const balancer = await startEmbeddedBalancer({
		port: options.port,
		healthCheck: { intervalMs: 500, timeoutMs: 1000, fall: 2 },
		// While no container is ready (scaled to zero, all being replaced) requests wait instead of failing.
		hold: { maxRequests: 1000, timeoutMs: readyTimeoutMs },
		onEmpty: () => {
			if (options.idleTimeoutMs !== undefined) wake();
		},
	});
	const replicas = new Map<string, Replica>();
	const coldStarts: ColdStart[] = [];
	let seq = 0;
	let desired = replicasWanted;
	let stopped = false;
	const labels = {
		...options.labels,
		[MANAGED_LABEL]: "container",
		[DEPLOYMENT_LABEL]: id,
	};

	// One operation at a time (scale, roll, heal), in order.
	let queue: Promise<unknown> = Promise.resolve();
	const serial = <T>(task: () => Promise<T>): Promise<T> => {
		const next = queue.then(task, task);
		queue = next.catch(() => {});
		return next;
	};

	async function launch(
		image: string,
		phases?: Partial<ColdStart>,
		t0 = performance.now(),
	): Promise<Replica> {
		const port = await freePort();
		const name = `mdp-${id}-${++seq}`;
		const limits = options.limits ?? {};
		const container = await engine.docker.createContainer({
			name,
			Image: image,
			Cmd: [
				"--host",
				"127.0.0.1",
				"--port",
				String(port),
				...(limits.maxBodyBytes
					? ["--max-body-bytes", String(limits.maxBodyBytes)]
					: []),
				...(limits.maxRecords
					? ["--max-records", String(limits.maxRecords)]
					: []),
			],
			Env: [
				`MDP_PORT=${port}`,
				`MDP_ADMIN_TOKEN=${adminToken}`,
				"ORT_DISABLE_TELEMETRY=1",
			],
			Labels: labels,
			HostConfig: {
				NetworkMode: "host",
				ReadonlyRootfs: true,
				Tmpfs: { "/tmp": "rw,noexec,nosuid,size=16m" },
				CapDrop: ["ALL"],
				SecurityOpt: ["no-new-privileges"],
				RestartPolicy:
					options.restartPolicy === "on-failure" ||
					options.restartPolicy === undefined
						? { Name: "on-failure", MaximumRetryCount: 5 }
						: { Name: options.restartPolicy },
				...(options.cpus ? { NanoCpus: Math.round(options.cpus * 1e9) } : {}),
				...(options.cpusetCpus ? { CpusetCpus: options.cpusetCpus } : {}),
				...(memory ? { Memory: memory } : {}),
			},
		});
		const created = performance.now();
		const replica: Replica = {
			name,
			container,
			port,
			image,
			ready: false,
			retiring: false,
		};
		let listening: number | undefined;
		let loadMs: number | undefined;
		logs.onEntry((entry) => {
			if (
				listening === undefined &&
				entry.name === name &&
				entry.line.includes('"event":"listening"')
			) {
				listening = performance.now();
				try {
					const event = JSON.parse(entry.line) as {
						models?: { load_ms?: number }[];
					};
					loadMs = event.models?.[0]?.load_ms;
				} catch {
					// not the JSON line after all
				}
			}
		});
		try {
			await container.start();
			const startedAt = performance.now();
			logs.follow(container, name);
			replicas.set(name, replica);
			const info = await container.inspect();
			replica.pid = info.State.Pid || undefined;
			await waitReady(replica);
			replica.ready = true;
			const ready = performance.now();
			if (phases && loadMs === undefined) {
				// The live log stream may lag (Podman): read the listening line from the log itself.
				const listeningLine = (await logTail(container))
					.split("\n")
					.find((line) => line.includes('"event":"listening"'));
				try {
					loadMs = (
						JSON.parse(listeningLine ?? "{}") as {
							models?: { load_ms?: number }[];
						}
					).models?.[0]?.load_ms;
				} catch {
					// not there
				}
			}
			if (phases) {
				phases.createMs = created - t0;
				phases.startMs = startedAt - created;
				const listen = listening ?? ready;
				phases.modelLoadMs = loadMs ?? 0;
				phases.processStartMs = Math.max(0, listen - startedAt - (loadMs ?? 0));
				phases.readyMs = ready - listen;
				phases.totalToReadyMs = ready - t0;
			}
			progress(`container ${name} ready on 127.0.0.1:${port} (${image})`);
			return replica;
		} catch (error) {
			replicas.delete(name);
			await balancer.remove(name).catch(() => {});
			await container.remove({ force: true }).catch(() => {});
			throw error;
		}
	}

	/** Adds the replica to the balancer and waits for a health check to pass, or for the container to die. */
	async function waitReady(replica: Replica): Promise<void> {
		let settled = false;
		const died = (async () => {
			while (!settled) {
				await new Promise((r) => setTimeout(r, 250));
				if (settled) return;
				const info = await replica.container.inspect().catch(() => undefined);
				// Exited, or restarted by its policy after a crash: it will not get ready by itself.
				if (
					!info ||
					(!info.State.Running && !info.State.Restarting) ||
					(info.RestartCount ?? 0) > 0
				) {
					const tail = await logTail(replica.container);
					throw new CoreError(
						"UNAVAILABLE",
						`container ${replica.name} (${replica.image}) exited before it was ready${tail ? `:\n${tail}` : ""}`,
					);
				}
			}
		})();
		try {
			await Promise.race([
				balancer.add(
					{ id: replica.name, host: "127.0.0.1", port: replica.port },
					{ waitHealthy: true, timeoutMs: readyTimeoutMs },
				),
				died,
			]);
		} finally {
			settled = true;
			died.catch(() => {});
		}
	}

	/** Takes a replica out: no new connections, drain, remove from the balancer, SIGTERM, remove. */
	async function retire(replica: Replica): Promise<void> {
		replica.retiring = true;
		// New connections go elsewhere; the server answers `Connection: close` while it drains.
		const draining = balancer
			.drain(replica.name, { timeoutMs: 3000 })
			.catch(() => {});
		await adminDrain(replica.port, adminToken);
		await draining;
		await balancer.remove(replica.name).catch(() => {});
		try {
			await replica.container.stop({ t: 10 });
		} catch {
			// already stopped or gone
		}
		await logs.flush(replica.container.id);
		await replica.container.remove({ force: true }).catch(() => {});
		replicas.delete(replica.name);
	}

	async function scaleTo(n: number): Promise<void> {
		desired = n;
		const live = [...replicas.values()].filter((r) => !r.retiring);
		if (live.length < n) {
			await Promise.all(
				Array.from({ length: n - live.length }, () => launch(current)),
			);
		} else {
			await Promise.all(live.slice(n).map(retire));
		}
	}

	async function rollTo(image: string): Promise<number> {
		await imageModel(engine, image);
		const old = [...replicas.values()].filter((r) => !r.retiring);
		const previous = current;
		current = image;
		let updated = 0;
		try {
			for (const replica of old) {
				await launch(image);
				await retire(replica);
				updated++;
			}
		} catch (error) {
			current = previous;
			throw new CoreError(
				"UNAVAILABLE",
				`rollout to ${image} stopped after ${updated} of ${old.length} container(s); the others still serve ${previous}: ${(error as Error).message}`,
				{ cause: error },
			);
		}
		progress(`rolled ${updated} container(s) onto ${image}`);
		return updated;
	}

	// The healer: a container that died (killed, out of memory, removed) is replaced.
	const healer = setInterval(() => {
		if (stopped) return;
		void serial(async () => {
			for (const replica of [...replicas.values()]) {
				if (replica.retiring || stopped) continue;
				const info = await replica.container.inspect().catch(() => undefined);
				if (info && (info.State.Running || info.State.Restarting)) continue;
				progress(`container ${replica.name} is gone; replacing it`);
				replica.retiring = true;
				await balancer.remove(replica.name).catch(() => {});
				await logs.flush(replica.container.id);
				replicas.delete(replica.name);
				await replica.container.remove({ force: true }).catch(() => {});
			}
			const live = [...replicas.values()].filter((r) => !r.retiring).length;
			if (!stopped && live < desired)
				await Promise.all(
					Array.from({ length: desired - live }, () =>
						launch(current).catch((error: Error) =>
							progress(`replacement failed: ${error.message}`),
						),
					),
				);
		});
	}, 1000);
	healer.unref();

	// Scale to zero: after idleTimeoutMs without a request the containers stop; the balancer holds the next
	// requests and asks for a container (onEmpty).
	let idleTimer: NodeJS.Timeout | undefined;
	if (options.idleTimeoutMs !== undefined) {
		const idleMs = options.idleTimeoutMs;
		let lastCount = -1;
		let lastActivity = performance.now();
		idleTimer = setInterval(
			async () => {
				if (stopped || desired === 0) return;
				const members = await balancer.list();
				const count = members.reduce((n, m) => n + m.total + m.inFlight, 0);
				const busy = members.some((m) => m.inFlight > 0);
				if (count !== lastCount || busy) {
					lastCount = count;
					lastActivity = performance.now();
					return;
				}
				if (performance.now() - lastActivity < idleMs) return;
				lastActivity = performance.now();
				void serial(async () => {
					if (stopped || desired === 0) return;
					progress(`idle for ${idleMs} ms: scaling to zero`);
					await scaleTo(0);
					lastCount = -1;
				}).catch(() => {});
			},
			Math.min(1000, Math.max(50, idleMs / 4)),
		);
		idleTimer.unref();
	}

	/** Starts one container when none runs (a request is waiting in the balancer). */
	function wake(): void {
		const arrived = performance.now();
		void serial(async () => {
			if (stopped) return;
			if ([...replicas.values()].some((r) => !r.retiring)) return;
			const phases: Partial<ColdStart> = {};
			desired = Math.max(desired, 1);
			await launch(current, phases, arrived);
			coldStarts.push(phases as ColdStart);
			progress(
				`cold start: ${Math.round(phases.totalToReadyMs ?? 0)} ms to a ready container`,
			);
		}).catch((error: Error) => progress(`cold start failed: ${error.message}`));
	}

	try {
		await serial(() => scaleTo(replicasWanted));
	} catch (error) {
		await teardown();
		throw error;
	}

	async function teardown(): Promise<void> {
		stopped = true;
		clearInterval(healer);
		clearInterval(idleTimer);
		await Promise.all(
			[...replicas.values()].map((r) => retire(r).catch(() => {})),
		);
		// Anything left with this deployment's label (a launch that raced the stop).
		const left = await engine.docker.listContainers({
			all: true,
			filters: { label: [`${DEPLOYMENT_LABEL}=${id}`] },
		});
		await Promise.all(
			left.map((c) =>
				engine.docker
					.getContainer(c.Id)
					.remove({ force: true })
					.catch(() => {}),
			),
		);
		await balancer.close();
		await logs.close();
	}

	let stopping: Promise<void> | undefined;
	const url = balancer.url;
	const deployment: ContainerDeployment = {
		pattern: "container",
		url,
		limits: options.limits,
		id,
		engine,
		logFile: logs.file,
		coldStarts,
		image: () => current,
		units(): DeploymentUnit[] {
			return [
				{ role: "balancer", id: "embedded-balancer", pid: process.pid },
				...[...replicas.values()].map((r) => ({
					role: "container",
					id: r.name,
					pid: r.pid,
					container: { id: r.container.id, engine: engine.name },
				})),
			];
		},
		stop() {
			stopping ??= serial(teardown);
			return stopping;
		},
		scale(n: number) {
			if (!Number.isInteger(n) || n < 0)
				return Promise.reject(
					new CoreError(
						"INVALID_ARGUMENT",
						`replicas must be a whole number ≥ 0, got ${n}`,
					),
				);
			return serial(() => scaleTo(n));
		},
		rollTo: (image) =>
			serial(async () => {
				const before = current;
				const updated = await rollTo(image);
				history.push(before);
				return updated;
			}),
		async updateModel(bundleDir: string) {
			const from = await imageModel(engine, current);
			const model = await buildModelImage(engine, {
				bundle: bundleDir,
				base: options.base,
				repository: options.repository,
				labels: options.labels,
				onProgress: progress,
			});
			return serial(async () => {
				const before = current;
				const updated = await rollTo(model.tag);
				history.push(before);
				return { from, to: model.model, updated };
			});
		},
		rollback() {
			return serial(async () => {
				const previous = history.at(-1);
				if (!previous)
					throw new CoreError(
						"INVALID_ARGUMENT",
						"nothing to roll back to: no update was made",
					);
				const from = await imageModel(engine, current);
				const to = await imageModel(engine, previous);
				const updated = await rollTo(previous);
				history.pop();
				return { from, to, updated };
			});
		},
		async stats() {
			return Promise.all(
				[...replicas.values()].map(async (r) => {
					const s = (await r.container.stats({ stream: false })) as {
						memory_stats?: { usage?: number; stats?: { cache?: number } };
						cpu_stats?: {
							cpu_usage?: { total_usage?: number };
							system_cpu_usage?: number;
							online_cpus?: number;
						};
						precpu_stats?: {
							cpu_usage?: { total_usage?: number };
							system_cpu_usage?: number;
						};
					};
					const cpu =
						(s.cpu_stats?.cpu_usage?.total_usage ?? 0) -
						(s.precpu_stats?.cpu_usage?.total_usage ?? 0);
					const system =
						(s.cpu_stats?.system_cpu_usage ?? 0) -
						(s.precpu_stats?.system_cpu_usage ?? 0);
					return {
						name: r.name,
						memoryBytes:
							(s.memory_stats?.usage ?? 0) -
							(s.memory_stats?.stats?.cache ?? 0),
						cpuCores:
							system > 0 ? (cpu / system) * (s.cpu_stats?.online_cpus ?? 1) : 0,
					};
				}),
			);
		},
	};
	return deployment;
}

/** Removes every container this package started (label `org.mdp.managed=container`), or only one deployment's. */
export async function down(
	engine: Engine,
	options: { deployment?: string; labels?: Record<string, string> } = {},
): Promise<string[]> {
	const label = [
		`${MANAGED_LABEL}=container`,
		...(options.deployment
			? [`${DEPLOYMENT_LABEL}=${options.deployment}`]
			: []),
		...Object.entries(options.labels ?? {}).map(([k, v]) => `${k}=${v}`),
	];
	const found = await engine.docker.listContainers({
		all: true,
		filters: { label },
	});
	await Promise.all(
		found.map(async (c) => {
			const container = engine.docker.getContainer(c.Id);
			await container.stop({ t: 5 }).catch(() => {});
			await container.remove({ force: true }).catch(() => {});
		}),
	);
	return found.map((c) => (c.Names[0] ?? c.Id).replace(/^\//, ""));
}

/** `512m`, `1g`, `1048576` → bytes. */
export function parseMemory(
	value: number | string | undefined,
): number | undefined {
	if (value === undefined) return undefined;
	if (typeof value === "number") return value;
	const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(value.trim());
	if (!match)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`memory "${value}" is not a size: use bytes or a number with k, m or g (512m, 1g)`,
		);
	const scale = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[
		(match[2] ?? "").toLowerCase() as "" | "k" | "m" | "g"
	];
	return Math.round(Number(match[1]) * scale);
}

/** Asks a server to drain (readiness false, `Connection: close`); quietly does nothing if it cannot. */
async function adminDrain(port: number, token: string): Promise<void> {
	try {
		const res = await fetch(`http://127.0.0.1:${port}/v2/admin/drain`, {
			method: "POST",
			headers: {
				authorization: `Bearer ${token}`,
				"content-type": "application/json",
			},
			body: JSON.stringify({ timeout_ms: 3000 }),
			signal: AbortSignal.timeout(5000),
		});
		await res.arrayBuffer();
	} catch {
		// A server without the admin drain route: SIGTERM drains it.
	}
}

async function logTail(container: Docker.Container): Promise<string> {
	try {
		const buffer = (await container.logs({
			stdout: true,
			stderr: true,
			tail: 10,
		})) as unknown as Buffer;
		// Multiplexed frames: 8-byte headers before each chunk.
		let text = "";
		for (let i = 0; i + 8 <= buffer.length; ) {
			const size = buffer.readUInt32BE(i + 4);
			text += buffer.subarray(i + 8, i + 8 + size).toString("utf8");
			i += 8 + size;
		}
		return text.trim();
	} catch {
		return "";
	}
}
