import { spawnSync } from "node:child_process";
import { mkdir, readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Artifact, DeploymentUnit } from "@mdp/core";
import { buildServer } from "@mdp/core/build";
import { freePort } from "@mdp/core/process";
import {
	type BenchTarget,
	type ColdStart,
	type FleetUnderTest,
	fromDeployment,
	type TargetContext,
} from "../types.ts";
import { startCliDeployment } from "./cli-deployment.ts";
import { createDeploymentTarget } from "./deployment.ts";
import { firstRequestBody } from "./first-request.ts";
import { medianColdStart } from "./static.ts";

const require = createRequire(import.meta.url);

/** The CLI of a workspace pattern package (`bin/mdp-<name>.js`), run with this Node. */
function cli(pkg: string, bin: string): string[] {
	return [
		process.execPath,
		join(dirname(require.resolve(`${pkg}/package.json`)), "bin", bin),
	];
}

const once = <T>(make: (ctx: TargetContext) => Promise<T>) => {
	const built = new Map<string, Promise<T>>();
	return (ctx: TargetContext) => {
		let value = built.get(ctx.workDir);
		if (!value) {
			value = make(ctx);
			built.set(ctx.workDir, value);
		}
		return value;
	};
};

/** Replicas of the fleet patterns: both cores' worth on these 2-core machines would only add contention. */
export const FLEET_REPLICAS = 2;

/**
 * vm: `mdp-vm up` with 2 process-isolated instances (no hypervisor) behind the embedded balancer, the
 * whole process tree on the server core; the instances run the prebuilt server.
 */
export function createVmTarget(options: {
	coldStartRuns: number;
}): BenchTarget {
	const server = once(async (ctx) => {
		ctx.progress("vm: building the instance server");
		return buildServer({
			out: join(ctx.workDir, "vm-server"),
			bundle: ctx.bundle,
		});
	});
	const launch = async (ctx: TargetContext) => {
		const artifact = await server(ctx);
		const port = await freePort();
		const state = join(ctx.workDir, `vm-state-${port}.json`);
		return {
			state,
			deployment: await startCliDeployment({
				pattern: "vm",
				wrapper: ctx.serverWrapper,
				command: [
					...cli("@mdp/vm", "mdp-vm.js"),
					"up",
					"--bundle",
					ctx.bundle,
					"--replicas",
					String(FLEET_REPLICAS),
					"--port",
					String(port),
					"--artifact",
					artifact.path,
					"--state",
					state,
					"--log",
					join(ctx.workDir, `vm-${port}.log`),
				],
				url: `http://127.0.0.1:${port}`,
			}),
		};
	};
	const target = createDeploymentTarget({
		id: "vm",
		title: `vm: ${FLEET_REPLICAS} process-isolated instances (no hypervisor) behind the embedded balancer`,
		coldStartRuns: options.coldStartRuns,
		build: async (ctx) => [await server(ctx)],
		start: async (ctx) => (await launch(ctx)).deployment,
	});
	return {
		...target,
		// The fleet as `mdp-vm up` runs it, watched through its control endpoint (`GET /status`).
		async deployFleet(ctx): Promise<FleetUnderTest> {
			const { callControl } = (await import(
				"@mdp/vm"
			)) as typeof import("@mdp/vm");
			const { deployment, state } = await launch(ctx);
			const status = async () =>
				(await callControl(state, "/status")) as {
					ready: number;
					replacements: number;
					units: { role: string; pid?: number }[];
				};
			// `up` serves the fleet's URL before it writes the control endpoint's state file: wait for it.
			const deadline = performance.now() + 15_000;
			for (;;) {
				try {
					await status();
					break;
				} catch (error) {
					if (performance.now() > deadline) {
						await deployment.stop();
						throw error;
					}
					await new Promise((r) => setTimeout(r, 100));
				}
			}
			return {
				...fromDeployment(deployment),
				endpoint: { kind: "http", url: deployment.url },
				replicas: FLEET_REPLICAS,
				async instancePids() {
					return (await status()).units.flatMap((u) =>
						u.role === "instance" && u.pid !== undefined ? [u.pid] : [],
					);
				},
				async health() {
					const s = await status();
					return { ready: s.ready, replacements: s.replacements };
				},
			};
		},
		// Scale-out latency: a one-instance fleet asked for a second instance, timed until it serves.
		async extras(ctx) {
			const { start } = (await import("@mdp/vm")) as typeof import("@mdp/vm");
			const artifact = await server(ctx);
			const fleet = await start({
				bundle: ctx.bundle,
				replicas: 1,
				artifact: artifact.path,
			});
			try {
				const started = performance.now();
				await fleet.scale?.(2);
				const scaleOutMs = performance.now() - started;
				return {
					replicas: FLEET_REPLICAS,
					isolation: "process-isolated instances, no hypervisor",
					scale_out_ms: Math.round(scaleOutMs),
				};
			} finally {
				await fleet.stop();
			}
		},
	};
}

/**
 * serverless: the AWS Lambda zip on the local function platform (`mdp-serverless serve`), AWS's runtime
 * interface client in every instance, concurrency 10, the platform and its instances on the server core.
 */
export function createServerlessTarget(options: {
	coldStartRuns: number;
}): BenchTarget {
	const zip = once(async (ctx): Promise<Artifact> => {
		ctx.progress("serverless: packaging the AWS Lambda zip");
		const out = join(ctx.workDir, "serverless", "function-aws.zip");
		await mkdir(dirname(out), { recursive: true });
		const run = spawnSync(
			cli("@mdp/serverless", "mdp-serverless.js")[0] as string,
			[
				...cli("@mdp/serverless", "mdp-serverless.js").slice(1),
				"package",
				"--bundle",
				ctx.bundle,
				"--provider",
				"aws",
				"--out",
				out,
			],
			{ encoding: "utf8", env: { ...process.env, ORT_DISABLE_TELEMETRY: "1" } },
		);
		if (run.status !== 0) {
			// The CLI prints a breakdown of the space after its error: quote the lines that say why.
			const lines = run.stderr.trim().split("\n");
			const why = lines.filter((l) => /exceeds|error|failed/i.test(l));
			throw new Error(
				`serverless package failed: ${(why.length ? why : lines.slice(0, 2)).join(" ").trim()}`,
			);
		}
		return { kind: "zip (aws)", path: out, bytes: (await stat(out)).size };
	});
	const target = createDeploymentTarget({
		id: "serverless",
		title:
			"serverless: AWS Lambda zip on the local function platform (aws-lambda-ric, concurrency 10)",
		coldStartRuns: options.coldStartRuns,
		build: async (ctx) => [await zip(ctx)],
		async start(ctx) {
			const artifact = await zip(ctx);
			const port = await freePort();
			return startCliDeployment({
				pattern: "serverless",
				wrapper: ctx.serverWrapper,
				command: [
					...cli("@mdp/serverless", "mdp-serverless.js"),
					"serve",
					"--zip",
					artifact.path,
					"--provider",
					"aws",
					"--concurrency",
					"10",
					"--port",
					String(port),
					"--report",
					join(ctx.workDir, `serverless-report-${port}.jsonl`),
				],
				url: `http://127.0.0.1:${port}`,
				// Every path goes to the function: readiness is the first instance answering.
				readyPath: "/v2/health/live",
			});
		},
	});
	return {
		...target,
		// The platform's own record of a cold start: the first request to a fresh instance, by phase.
		async coldStart(ctx) {
			const { start } = (await import(
				"@mdp/serverless"
			)) as typeof import("@mdp/serverless");
			const artifact = await zip(ctx);
			const body = await firstRequestBody(ctx.bundle);
			const runs: ColdStart[] = [];
			for (let i = 0; i < options.coldStartRuns; i++) {
				const deployment = await start({
					zip: artifact.path,
					bundle: ctx.bundle,
					concurrency: 2,
					log: null,
				});
				try {
					const started = performance.now();
					const res = await fetch(new URL("/predict", deployment.url), {
						method: "POST",
						body,
						headers: { "content-type": "application/json" },
					});
					await res.text();
					const total = performance.now() - started;
					const cold = deployment.platform.reports()[0]?.coldStart;
					if (!res.ok || !cold)
						throw new Error(`serverless: cold request got ${res.status}`);
					const phases: Record<string, number> = {
						spawn: cold.spawnMs ?? Number.NaN,
						runtime_and_modules: cold.runtimeMs ?? Number.NaN,
						load_onnxruntime: cold.onnxRuntimeLoadMs ?? Number.NaN,
						create_session: cold.sessionMs ?? Number.NaN,
						first_inference: cold.firstInferenceMs,
					};
					const parts = Object.values(phases).filter(Number.isFinite);
					phases.gateway_and_rest = total - parts.reduce((a, b) => a + b, 0);
					runs.push({ total_ms: total, phases });
				} finally {
					await deployment.stop();
				}
			}
			return medianColdStart(runs);
		},
		async extras(ctx) {
			const { SIZE_LIMITS, readZipEntries, start } = (await import(
				"@mdp/serverless"
			)) as typeof import("@mdp/serverless");
			const artifact = await zip(ctx);
			const entries = readZipEntries(
				await readFile(artifact.path),
				artifact.path,
			);
			const unzipped = entries.reduce((n, e) => n + e.size, 0);
			// Throttling: twice the concurrency limit at once, no queue: the excess is refused with 429.
			const deployment = await start({
				zip: artifact.path,
				bundle: ctx.bundle,
				concurrency: 2,
				log: null,
			});
			let throttled = 0;
			try {
				const body = await firstRequestBody(ctx.bundle);
				const statuses = await Promise.all(
					Array.from({ length: 8 }, () =>
						fetch(new URL("/predict", deployment.url), {
							method: "POST",
							body,
							headers: { "content-type": "application/json" },
						}).then(async (r) => {
							await r.arrayBuffer();
							return r.status;
						}),
					),
				);
				throttled = statuses.filter((s) => s === 429).length;
			} finally {
				await deployment.stop();
			}
			return {
				zip_bytes: artifact.bytes,
				zip_unzipped_bytes: unzipped,
				zip_limit_bytes: SIZE_LIMITS.aws.compressedBytes ?? Number.NaN,
				zip_unzipped_limit_bytes:
					SIZE_LIMITS.aws.uncompressedBytes ?? Number.NaN,
				throttled_at_limit: throttled,
				throttle_probe:
					"8 parallel requests against a concurrency limit of 2, no queue",
			};
		},
	};
}

/** The CPUs of the harness's server pinning (`taskset -c 0` → `0`), for engines that pin containers. */
function serverCpus(wrapper: readonly string[]): string | undefined {
	return wrapper[0]?.endsWith("taskset") ? wrapper[2] : undefined;
}

/** Whether a Docker engine answers on its default socket (or DOCKER_HOST). */
export function dockerReachable(): boolean {
	const ping = spawnSync(
		process.execPath,
		[
			"-e",
			`const h = process.env.DOCKER_HOST; const req = require("node:http").get(h && h.startsWith("tcp://") ? h.replace("tcp://", "http://") + "/_ping" : { socketPath: (h ?? "unix:///var/run/docker.sock").replace("unix://", ""), path: "/_ping" }, (r) => process.exit(r.statusCode === 200 ? 0 : 1)); req.on("error", () => process.exit(1)); req.setTimeout(2000, () => process.exit(1));`,
		],
		{ timeout: 5000 },
	);
	return ping.status === 0;
}

/**
 * container: `mdp-container up` with 2 containers (Docker, host networking, pinned with --cpuset-cpus to
 * the server core) behind core's balancer in the CLI process, itself pinned to the server core. The image
 * is built once per run through the engine API and removed at the end.
 */
export function createContainerTarget(options: {
	coldStartRuns: number;
}): BenchTarget {
	const tag = `mdp-bench-penguins:${process.pid}-${Date.now().toString(36)}`;
	let engine: import("@mdp/container").Engine | undefined;
	const image = once(async (ctx): Promise<Artifact> => {
		const { buildModelImage, connectEngine } = (await import(
			"@mdp/container"
		)) as typeof import("@mdp/container");
		engine ??= await connectEngine({ engine: "docker" });
		ctx.progress("container: building the image through the engine API");
		const built = await buildModelImage(engine, { bundle: ctx.bundle, tag });
		return {
			kind: "image",
			path: built.tag,
			bytes: built.bytes,
			parts: built.parts,
		};
	});
	const containerUnits = new Map<string, DeploymentUnit[]>();
	const target = createDeploymentTarget({
		id: "container",
		title: `container: ${FLEET_REPLICAS} Docker containers behind the embedded balancer`,
		coldStartRuns: options.coldStartRuns,
		build: async (ctx) => [await image(ctx)],
		async start(ctx) {
			const built = await image(ctx);
			const port = await freePort();
			const cpuset = serverCpus(ctx.serverWrapper);
			const url = `http://127.0.0.1:${port}`;
			const deployment = await startCliDeployment({
				pattern: "container",
				wrapper: ctx.serverWrapper,
				command: [
					...cli("@mdp/container", "mdp-container.js"),
					"up",
					"--image",
					built.path,
					"--replicas",
					String(FLEET_REPLICAS),
					"--port",
					String(port),
					"--log-file",
					join(ctx.workDir, `container-${port}.jsonl`),
					...(cpuset ? ["--cpuset-cpus", cpuset] : []),
				],
				url,
				extraUnits: () => containerUnits.get(url) ?? [],
			});
			// The containers' processes are the engine's children, not the CLI's: find them by image.
			const docker = (engine as import("@mdp/container").Engine).docker;
			const listed = await docker.listContainers({
				filters: { ancestor: [built.path] },
			});
			const units: DeploymentUnit[] = [];
			for (const c of listed) {
				const info = await docker.getContainer(c.Id).inspect();
				units.push({
					role: "container",
					id: c.Names[0] ?? c.Id,
					pid: info.State.Pid,
					container: { id: c.Id, engine: "docker" },
				});
			}
			containerUnits.set(url, units);
			return deployment;
		},
	});
	return {
		...target,
		...(dockerReachable()
			? {}
			: {
					unavailable:
						"no container engine: start Docker (scripts/ci-engines.sh does) to measure this pattern",
				}),
		async extras(ctx) {
			const built = await image(ctx);
			const { start } = (await import(
				"@mdp/container"
			)) as typeof import("@mdp/container");
			// Scale from zero: one container with a 1 s idle timeout; once it is gone, time the next request.
			const deployment = await start({
				engine,
				image: built.path,
				replicas: 1,
				idleTimeoutMs: 1000,
				onProgress: () => {},
			});
			let fromZero = Number.NaN;
			try {
				const body = await firstRequestBody(ctx.bundle);
				const deadline = Date.now() + 15_000;
				while (
					deployment.units().some((u) => u.role === "container") &&
					Date.now() < deadline
				)
					await new Promise((r) => setTimeout(r, 200));
				const started = performance.now();
				const res = await fetch(new URL("/predict", deployment.url), {
					method: "POST",
					body,
					headers: { "content-type": "application/json" },
				});
				await res.text();
				if (res.ok) fromZero = performance.now() - started;
			} finally {
				await deployment.stop();
			}
			return {
				replicas: FLEET_REPLICAS,
				image_bytes: built.bytes,
				cold_start_from_zero_ms: Math.round(fromZero),
				engine: "docker",
			};
		},
		async dispose() {
			if (!engine) return;
			await engine.docker
				.getImage(tag)
				.remove({ force: true })
				.catch(() => {});
		},
	};
}
