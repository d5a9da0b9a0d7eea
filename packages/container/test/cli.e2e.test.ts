import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { compareToGolden, type Prediction } from "@mdp/core";
import { type ReadyProcess, spawnUntilReady } from "@mdp/core/process";
import { afterAll, describe, expect, it } from "vitest";
import { connectEngine } from "../src/engine.ts";
import { DEPLOYMENT_LABEL, down } from "../src/start.ts";
import { goldenCases, testEngine } from "./helpers.ts";

const run = promisify(execFile);
const bin = fileURLToPath(new URL("../bin/mdp-container.js", import.meta.url));
const docker = testEngine("docker");

async function cli(args: string[], env: Record<string, string> = {}) {
	try {
		const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
			env: {
				PATH: process.env.PATH ?? "",
				HOME: process.env.HOME ?? "/tmp",
				...env,
			},
			timeout: 60_000,
		});
		return { code: 0, stdout, stderr };
	} catch (error) {
		const e = error as { code: number; stdout: string; stderr: string };
		return { code: e.code, stdout: e.stdout, stderr: e.stderr };
	}
}

describe("mdp-container CLI", () => {
	it("says in one sentence how to start an engine when none answers", async () => {
		const dockerDown = await cli(["down"], {
			DOCKER_HOST: "unix:///tmp/mdp-no-engine.sock",
		});
		expect(dockerDown.code).toBe(1);
		expect(dockerDown.stderr.trim().split("\n")).toHaveLength(1);
		expect(dockerDown.stderr).toMatch(
			/no docker engine answers at unix:\/\/\/tmp\/mdp-no-engine\.sock .*start Docker with `dockerd &`/,
		);
		const podmanDown = await cli(["down", "--engine", "podman"], {
			MDP_PODMAN_SOCK: "/tmp/mdp-no-engine.sock",
		});
		expect(podmanDown.code).toBe(1);
		expect(podmanDown.stderr).toMatch(
			/no podman engine answers at \/tmp\/mdp-no-engine\.sock .*podman system service/,
		);
	});

	it("exits 2 on usage errors", async () => {
		expect((await cli(["launch"])).code).toBe(2);
		expect((await cli(["build"])).stderr).toMatch(/build needs --bundle DIR/);
		const engine = await cli(["down", "--engine", "lxc"]);
		expect([engine.code, engine.stderr]).toEqual([
			2,
			expect.stringMatching(/--engine must be docker or podman/),
		]);
		expect(
			(await cli(["up", "--image", "x", "--replicas", "two"])).stderr,
		).toMatch(/--replicas must be a whole number/);
		expect(
			(await cli(["up", "--image", "x", "--idle-timeout", "soon"])).stderr,
		).toMatch(/--idle-timeout must be a duration/);
	});

	describe.skipIf(docker.skip)("on docker", () => {
		let up: ReadyProcess | undefined;
		let deploymentId: string | undefined;
		const started: { process: ReadyProcess; deployment?: string }[] = [];
		afterAll(async () => {
			for (const s of started) {
				await s.process.stop();
				if (s.deployment)
					await down(await connectEngine(), { deployment: s.deployment });
			}
		});

		it("up --replicas 2 serves the golden set; SIGTERM removes its containers", async () => {
			let announced: { deployment?: string; units?: { role: string }[] } = {};
			up = await spawnUntilReady({
				command: [
					process.execPath,
					bin,
					"up",
					"--image",
					docker.image,
					"--replicas",
					"2",
					"--log-file",
					docker.logFile(),
				],
				timeoutMs: 90_000,
				onLine: (line, stream) => {
					if (stream === "stdout" && line.startsWith("{"))
						announced = JSON.parse(line);
				},
			});
			deploymentId = announced.deployment;
			expect(
				announced.units?.filter((u) => u.role === "container"),
			).toHaveLength(2);
			const golden = goldenCases();
			const res = await fetch(`${up.url}/predict`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ records: golden.map((g) => g.record) }),
			});
			const body = (await res.json()) as { predictions: Prediction[] };
			expect(compareToGolden(golden, body.predictions)).toEqual([]);
			expect((await (up as ReadyProcess).stop(30_000)).code).toBe(0);
			const engine = await connectEngine();
			const left = await engine.docker.listContainers({
				all: true,
				filters: { label: [`${DEPLOYMENT_LABEL}=${deploymentId}`] },
			});
			expect(left).toEqual([]);
		});

		it("down removes the containers of an up that crashed", async () => {
			let announced: {
				deployment?: string;
				units?: { id: string; role: string }[];
			} = {};
			const crashing = await spawnUntilReady({
				command: [
					process.execPath,
					bin,
					"up",
					"--image",
					docker.image,
					"--replicas",
					"2",
					"--log-file",
					docker.logFile(),
				],
				timeoutMs: 90_000,
				onLine: (line, stream) => {
					if (stream === "stdout" && line.startsWith("{"))
						announced = JSON.parse(line);
				},
			});
			deploymentId = announced.deployment;
			started.push({ process: crashing, deployment: deploymentId });
			crashing.child.kill("SIGKILL"); // no clean-up of its own
			await crashing.exited;
			const engine = await connectEngine();
			const filters = { label: [`${DEPLOYMENT_LABEL}=${deploymentId}`] };
			expect(
				await engine.docker.listContainers({ all: true, filters }),
			).toHaveLength(2);
			const result = await cli([
				"down",
				"--deployment",
				deploymentId as string,
			]);
			expect(result.code).toBe(0);
			const names = (announced.units ?? [])
				.filter((u) => u.role === "container")
				.map((u) => u.id);
			expect(names).toHaveLength(2);
			expect(result.stderr).toContain("removed 2 container(s): ");
			for (const name of names) expect(result.stderr).toContain(name);
			expect(
				await engine.docker.listContainers({ all: true, filters }),
			).toEqual([]);
		});
	});
});
