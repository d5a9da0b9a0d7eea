import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { compareToGolden, type Prediction } from "@mdp/core";
import { Deployment } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { Service } from "kubernetes-models/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { writeManifests } from "../src/render.ts";
import {
	goldenCases,
	sleep,
	startLoad,
	testEngine,
	waitFor,
} from "./helpers.ts";

const run = promisify(execFile);
const docker = testEngine("docker");
const golden = goldenCases();
const hasCli = async (cli: string) =>
	run(cli, ["--version"]).then(
		() => true,
		() => false,
	);
const composeAvailable = await hasCli("docker-compose");
const dockerCliAvailable = await hasCli("docker");

async function goldenThrough(
	url: string,
): Promise<{ ok: boolean; version?: string }> {
	const res = await fetch(`${url}/predict`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ records: golden.map((g) => g.record) }),
		signal: AbortSignal.timeout(10_000),
	});
	const body = (await res.json()) as {
		model?: { version: string };
		predictions?: Prediction[];
	};
	return {
		ok:
			res.status === 200 &&
			compareToGolden(golden, body.predictions ?? []).length === 0,
		version: body.model?.version,
	};
}

// Below the ephemeral range (32768+) that free ports of start() come from.
const randomPort = () => 10_000 + Math.floor(Math.random() * 20_000);

describe("manifests", () => {
	let dir: string;
	beforeAll(async () => {
		dir = await mkdtemp(join(tmpdir(), "mdp-container-render-"));
	});
	afterAll(async () => {
		if (dir) await rm(dir, { recursive: true, force: true });
	});

	it("renders Kubernetes objects that pass the API schemas, and the schemas catch a broken one", async () => {
		const [, , , k8s] = await writeManifests(join(dir, "k8s"), {
			image: "registry.example/mdp-penguins:1.0.0",
			replicas: 3,
			cpus: 0.5,
			memory: "256m",
		});
		const docs = parseAllDocuments(await readFile(k8s as string, "utf8")).map(
			(d) => d.toJSON(),
		);
		expect(docs.map((d) => d.kind)).toEqual([
			"Deployment",
			"Service",
			"HorizontalPodAutoscaler",
			"PodDisruptionBudget",
		]);
		const [deployment, service, hpa, pdb] = docs;
		new Deployment(deployment).validate();
		new Service(service).validate();
		new HorizontalPodAutoscaler(hpa).validate();
		new PodDisruptionBudget(pdb).validate();
		const pod = deployment.spec.template.spec;
		const container = pod.containers[0];
		expect(deployment.spec.replicas).toBe(3);
		expect(deployment.spec.strategy.rollingUpdate).toEqual({
			maxUnavailable: 0,
			maxSurge: 1,
		});
		expect(container.readinessProbe.httpGet.path).toBe("/v2/health/ready");
		expect(container.livenessProbe.httpGet.path).toBe("/v2/health/live");
		expect(container.resources.limits).toEqual({
			cpu: "500m",
			memory: "256Mi",
		});
		expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
		expect(pod.securityContext).toMatchObject({
			runAsNonRoot: true,
			runAsUser: 10001,
		});
		// The validation is real: a wrongly typed field is refused.
		const broken = structuredClone(deployment);
		broken.spec.replicas = "three";
		expect(() => new Deployment(broken).validate()).toThrow(/replicas/);
		const brokenPort = structuredClone(service);
		brokenPort.spec.ports[0].port = "eighty";
		expect(() => new Service(brokenPort).validate()).toThrow();
	});

	it("refuses a replica count below 1", async () => {
		await expect(
			writeManifests(join(dir, "bad"), { image: "x", replicas: 0 }),
		).rejects.toThrow(/replicas must be/);
	});

	describe.skipIf(
		docker.skip || (!composeAvailable && process.env.CI !== "true"),
	)("docker-compose", () => {
		it("runs the host-network Compose file for real and serves the golden set through its balancer", async () => {
			const port = randomPort();
			const [, hostFile] = await writeManifests(join(dir, "compose"), {
				image: docker.image,
				replicas: 2,
				port,
				replicaPortBase: port + 1,
				memory: "256m",
			});
			const compose = parse(await readFile(hostFile as string, "utf8"));
			expect(Object.keys(compose.services).sort()).toEqual([
				"balancer",
				"model-1",
				"model-2",
			]);
			const project = `mdpc${docker.run.runId}`;
			const cli = (...args: string[]) =>
				run(
					"docker-compose",
					["-p", project, "-f", hostFile as string, ...args],
					{ timeout: 120_000 },
				);
			try {
				await cli("up", "-d");
				await waitFor(
					async () =>
						(
							await goldenThrough(`http://127.0.0.1:${port}`).catch(() => ({
								ok: false,
							}))
						).ok,
					60_000,
					"compose to serve",
				);
				// Both replicas serve: stop one and the balancer still answers.
				await cli("stop", "model-1");
				await waitFor(
					async () =>
						(
							await goldenThrough(`http://127.0.0.1:${port}`).catch(() => ({
								ok: false,
							}))
						).ok,
					10_000,
					"the other replica",
				);
			} finally {
				await cli("down", "--timeout", "5").catch(() => {});
			}
			const { stdout } = await run("docker", [
				"ps",
				"-aq",
				"--filter",
				`label=com.docker.compose.project=${project}`,
			]);
			expect(stdout.trim()).toBe("");
		}, 180_000);
	});

	describe.skipIf(
		docker.skip || (!dockerCliAvailable && process.env.CI !== "true"),
	)("docker swarm", () => {
		it("deploys the stack, serves the golden set, and rolls an image update start-first under load", async () => {
			const state = (
				await run("docker", ["info", "--format", "{{.Swarm.LocalNodeState}}"])
			).stdout.trim();
			const joined = state === "inactive";
			if (joined)
				await run("docker", ["swarm", "init", "--advertise-addr", "127.0.0.1"]);
			const stack = `mdps${docker.run.runId}`;
			const port = randomPort();
			const [, , stackFile] = await writeManifests(join(dir, "swarm"), {
				image: docker.image,
				replicas: 2,
				port,
				replicaPortBase: port + 1,
				memory: "256m",
			});
			const deploy = (file: string) =>
				run(
					"docker",
					["stack", "deploy", "--resolve-image", "never", "-c", file, stack],
					{ timeout: 120_000 },
				);
			const url = `http://127.0.0.1:${port}`;
			try {
				await deploy(stackFile as string);
				await waitFor(
					async () =>
						(await goldenThrough(url).catch(() => ({ ok: false }))).ok,
					90_000,
					"the stack to serve",
				);
				const load = startLoad(url, { workers: 4 });
				// The image update of the model service alone (the balancer keeps running), with the stack's
				// update_config: one task at a time, start-first, rollback on failure.
				await run(
					"docker",
					[
						"service",
						"update",
						"--detach",
						"--image",
						docker.imageV2,
						`${stack}_model`,
					],
					{ timeout: 60_000 },
				);
				await waitFor(
					async () => {
						const { stdout } = await run("docker", [
							"service",
							"inspect",
							`${stack}_model`,
							"--format",
							"{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}",
						]);
						return stdout.trim() === "completed";
					},
					120_000,
					"the rolling update",
				);
				await sleep(500);
				const outcomes = await load.stop();
				const failed = outcomes.filter((o) => !o.ok);
				const kinds = new Map<string, number>();
				for (const f of failed) {
					const key = `${f.status} ${f.error ?? ""}`.slice(0, 120);
					kinds.set(key, (kinds.get(key) ?? 0) + 1);
				}
				process.stderr.write(
					`swarm start-first update: ${outcomes.length} requests, ${failed.length} failed ${JSON.stringify(Object.fromEntries(kinds))}\n`,
				);
				expect(outcomes.length).toBeGreaterThan(50);
				expect(failed.length).toBeLessThanOrEqual(
					Math.ceil(outcomes.length * 0.01),
				);
				expect(outcomes.at(-1)?.version).toBe("1.0.1");
				expect((await goldenThrough(url)).version).toBe("1.0.1");
			} finally {
				await run("docker", ["stack", "rm", stack]).catch(() => {});
				await waitFor(
					async () =>
						(
							await run("docker", [
								"ps",
								"-aq",
								"--filter",
								`label=com.docker.stack.namespace=${stack}`,
							])
						).stdout.trim() === "",
					60_000,
					"the stack's containers to go",
				).catch(() => {});
				if (joined)
					await run("docker", ["swarm", "leave", "--force"]).catch(() => {});
			}
			const after = (
				await run("docker", ["info", "--format", "{{.Swarm.LocalNodeState}}"])
			).stdout.trim();
			expect(after).toBe(state);
		}, 300_000);
	});
});
