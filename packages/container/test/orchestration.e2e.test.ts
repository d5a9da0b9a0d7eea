import { readFileSync } from "node:fs";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	compareToGolden,
	type Prediction,
	referenceBundleDir,
} from "@mdp/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { connectEngine, type Engine } from "../src/engine.ts";
import type { LogEntry } from "../src/log-collector.ts";
import {
	type ContainerDeployment,
	DEPLOYMENT_LABEL,
	type StartOptions,
	start,
} from "../src/start.ts";
import {
	goldenCases,
	sleep,
	startLoad,
	testEngine,
	waitFor,
} from "./helpers.ts";

const golden = goldenCases();

async function predictOne(
	url: string,
): Promise<{ status: number; version?: string; ok: boolean }> {
	const g = golden[3] ?? golden[0];
	const res = await fetch(`${url}/predict`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ records: [g?.record] }),
	});
	const body = (await res.json()) as {
		model?: { version: string };
		predictions?: Prediction[];
	};
	return {
		status: res.status,
		version: body.model?.version,
		ok:
			res.status === 200 &&
			g !== undefined &&
			compareToGolden([g], body.predictions ?? []).length === 0,
	};
}

for (const engineName of ["docker", "podman"] as const) {
	const docker = testEngine(engineName);
	describe.skipIf(docker.skip)(
		`container orchestration on ${engineName}`,
		() => {
			let engine: Engine;
			let dir: string;
			const running: ContainerDeployment[] = [];
			let launched = 0;
			const launch = async (options: StartOptions) => {
				const deployment = await start({
					engine,
					image: docker.image,
					repository: docker.run.repository,
					labels: docker.labels,
					logFile: join(dir, `logs-${++launched}.jsonl`),
					...options,
				});
				running.push(deployment);
				return deployment;
			};
			const containerIds = (d: ContainerDeployment) =>
				d
					.units()
					.filter((u) => u.role === "container")
					.map((u) => u.container?.id);

			beforeAll(async () => {
				engine = await connectEngine({ engine: engineName });
				dir = await mkdtemp(join(tmpdir(), "mdp-container-orch-"));
			});
			afterEach(async () => {
				await Promise.all(running.splice(0).map((d) => d.stop()));
			});
			afterAll(async () => {
				if (dir) await rm(dir, { recursive: true, force: true });
			});

			it("runs each container non-root, read-only, without capabilities, with its limits", async () => {
				const d = await launch({
					replicas: 1,
					cpus: 0.5,
					cpusetCpus: "0",
					memory: "256m",
				});
				const [unit] = d.units().filter((u) => u.role === "container");
				const container = engine.docker.getContainer(
					unit?.container?.id as string,
				);
				const info = await container.inspect();
				expect(info.Config.User).toBe("10001:10001");
				expect(info.HostConfig.ReadonlyRootfs).toBe(true);
				expect(info.HostConfig.CapAdd ?? []).toEqual([]);
				expect(info.HostConfig.NetworkMode).toBe("host");
				expect([info.HostConfig.NanoCpus, info.HostConfig.Memory]).toEqual([
					5e8,
					256 * 1024 ** 2,
				]);
				expect(info.HostConfig.CpusetCpus).toBe("0");
				expect(info.HostConfig.RestartPolicy?.Name).toBe("on-failure");
				expect(info.Config.Labels?.[DEPLOYMENT_LABEL]).toBe(d.id);
				// The host sees the server as a process of uid 10001, and the unit's pid is that process.
				const status = readFileSync(`/proc/${unit?.pid}/status`, "utf8");
				expect(status).toMatch(/^Uid:\s+10001\s/m);
				// No capability at all, effective or bounding.
				expect(status).toMatch(/^CapEff:\s+0+$/m);
				expect(status).toMatch(/^CapBnd:\s+0+$/m);
				expect(readFileSync(`/proc/${unit?.pid}/cmdline`, "utf8")).toContain(
					"/app/mdp-serve.mjs",
				);
				// Writing to the root filesystem fails; /tmp (a tmpfs) is writable.
				const exec = async (script: string) => {
					const e = await container.exec({
						Cmd: ["node", "-e", script],
						AttachStdout: true,
						AttachStderr: true,
					});
					const stream = await e.start({});
					await new Promise((r) => {
						stream.on("end", r);
						stream.resume();
					});
					return (await e.inspect()).ExitCode;
				};
				expect(
					await exec("require('fs').writeFileSync('/app/x', '1')"),
				).not.toBe(0);
				expect(await exec("require('fs').writeFileSync('/tmp/x', '1')")).toBe(
					0,
				);
				const [stats] = await d.stats();
				expect(stats?.memoryBytes).toBeGreaterThan(10 * 1024 ** 2);
				expect(stats?.memoryBytes).toBeLessThan(256 * 1024 ** 2);
			});

			it("rolls onto a new image and back under load without a failed request", async () => {
				const d = await launch({ replicas: 2 });
				const before = containerIds(d);
				const load = startLoad(d.url);
				await sleep(300);
				expect(await d.rollTo(docker.imageV2)).toBe(2);
				await sleep(300);
				const mid = load.outcomes.length;
				expect((await predictOne(d.url)).version).toBe("1.0.1");
				const back = await d.rollback();
				await sleep(300);
				const outcomes = await load.stop();
				expect(back).toMatchObject({
					from: { version: "1.0.1" },
					to: { version: "1.0.0" },
					updated: 2,
				});
				expect(outcomes.filter((o) => !o.ok)).toEqual([]);
				expect(outcomes.length).toBeGreaterThan(mid + 20);
				expect(outcomes.slice(0, 5).every((o) => o.version === "1.0.0")).toBe(
					true,
				);
				expect(outcomes.slice(0, mid).some((o) => o.version === "1.0.1")).toBe(
					true,
				);
				expect(outcomes.at(-1)?.version).toBe("1.0.0");
				// New containers each time, none of the first ones left.
				const after = containerIds(d);
				expect(after).toHaveLength(2);
				expect(after.some((id) => before.includes(id))).toBe(false);
				expect(d.image()).toBe(docker.image);
			});

			it("stops a rollout whose image never gets ready and keeps the old containers serving", async () => {
				// A bundle whose model file does not match its manifest: the image builds, the server refuses to start.
				const bad = join(dir, "penguins-bad");
				await cp(referenceBundleDir, bad, { recursive: true });
				const manifest = JSON.parse(
					await readFile(join(bad, "mdp.json"), "utf8"),
				);
				manifest.version = "1.0.2";
				await writeFile(join(bad, "mdp.json"), JSON.stringify(manifest));
				await writeFile(join(bad, "model.onnx"), "not a model");
				const d = await launch({ replicas: 2, readyTimeoutMs: 20_000 });
				const before = containerIds(d);
				const load = startLoad(d.url, { workers: 4 });
				await expect(d.updateModel(bad)).rejects.toThrow(
					/rollout to .*1\.0\.2.* stopped after 0 of 2 container\(s\).*exited before it was ready/s,
				);
				const outcomes = await load.stop();
				expect(outcomes.filter((o) => !o.ok)).toEqual([]);
				expect(containerIds(d)).toEqual(before);
				expect(d.image()).toBe(docker.image);
				expect((await predictOne(d.url)).version).toBe("1.0.0");
				const left = await engine.docker.listContainers({
					all: true,
					filters: { label: [`${DEPLOYMENT_LABEL}=${d.id}`] },
				});
				expect(left.map((c) => c.Id).sort()).toEqual([...before].sort());
			});

			it("replaces a killed container while the balancer routes around it", async () => {
				const d = await launch({ replicas: 2 });
				const [victim, survivor] = containerIds(d);
				const load = startLoad(d.url, { workers: 8, timeoutMs: 10_000 });
				await sleep(300);
				await engine.docker.getContainer(victim as string).kill();
				await waitFor(
					() => {
						const ids = containerIds(d);
						return (
							ids.length === 2 &&
							!ids.includes(victim) &&
							ids.includes(survivor)
						);
					},
					30_000,
					"a replacement container",
				);
				await waitFor(
					async () => (await predictOne(d.url)).ok,
					10_000,
					"the deployment to serve",
				);
				const healedAt = performance.now();
				await sleep(500);
				const outcomes = await load.stop();
				// Requests in flight on the killed container at the moment of the kill may fail (at most one per
				// worker); every request sent once the replacement serves succeeds.
				const failed = outcomes.filter((o) => !o.ok);
				process.stderr.write(
					`kill under load: ${outcomes.length} requests, ${failed.length} failed ${JSON.stringify(failed.slice(0, 3))}\n`,
				);
				expect(failed.length).toBeLessThanOrEqual(8);
				const afterHeal = outcomes.filter((o) => o.started > healedAt);
				expect(afterHeal.length).toBeGreaterThan(8);
				expect(afterHeal.filter((o) => !o.ok)).toEqual([]);
				const replacement = containerIds(d).find(
					(id) => id !== survivor,
				) as string;
				expect(
					(await engine.docker.getContainer(replacement).inspect()).State
						.Running,
				).toBe(true);
			});

			it("collects every container's output into one JSON-lines file that outlives them", async () => {
				const seen: LogEntry[] = [];
				const d = await launch({ replicas: 2, onLog: (e) => seen.push(e) });
				const names = d
					.units()
					.filter((u) => u.role === "container")
					.map((u) => u.id);
				await d.stop();
				const left = await engine.docker.listContainers({
					all: true,
					filters: { label: [`${DEPLOYMENT_LABEL}=${d.id}`] },
				});
				expect(left).toEqual([]);
				const entries = readFileSync(d.logFile, "utf8")
					.trim()
					.split("\n")
					.map((line) => JSON.parse(line) as LogEntry);
				for (const name of names) {
					const mine = entries.filter((e) => e.name === name);
					expect(
						mine.some(
							(e) =>
								e.stream === "stdout" && e.line.includes('"event":"listening"'),
						),
					).toBe(true);
					expect(
						mine.some(
							(e) => e.stream === "stderr" && e.line.includes("SIGTERM"),
						),
					).toBe(true);
					expect(new Set(mine.map((e) => e.container)).size).toBe(1);
				}
				expect(entries.every((e) => !Number.isNaN(Date.parse(e.time)))).toBe(
					true,
				);
				expect(seen.length).toBe(entries.length);
			});

			it("scales to zero when idle and serves the next request from a cold start", async () => {
				const d = await launch({ replicas: 1, idleTimeoutMs: 1000 });
				expect((await predictOne(d.url)).ok).toBe(true);
				await waitFor(
					() => containerIds(d).length === 0,
					15_000,
					"scale to zero",
				);
				const gone = await engine.docker.listContainers({
					all: true,
					filters: { label: [`${DEPLOYMENT_LABEL}=${d.id}`] },
				});
				expect(gone).toEqual([]);
				// Requests arriving while nothing runs are held, then served: none is rejected.
				const answers = await Promise.all([
					predictOne(d.url),
					predictOne(d.url),
					predictOne(d.url),
				]);
				expect(answers.map((a) => a.ok)).toEqual([true, true, true]);
				// Recorded once the launch has finished its bookkeeping, which may be after the answers.
				await waitFor(
					() => d.coldStarts.length > 0,
					10_000,
					"the cold start record",
				);
				expect(d.coldStarts).toHaveLength(1);
				const [cold] = d.coldStarts;
				expect(cold?.modelLoadMs).toBeGreaterThan(0);
				expect(cold?.totalToReadyMs).toBeGreaterThan(cold?.startMs ?? 0);
				expect(containerIds(d)).toHaveLength(1);
				// And up and down on request.
				await d.scale(2);
				expect(containerIds(d)).toHaveLength(2);
				await d.scale(0);
				expect(containerIds(d)).toHaveLength(0);
			});
		},
	);
}
