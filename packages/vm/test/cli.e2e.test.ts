import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
	compareToGolden,
	type GoldenCase,
	loadBundle,
	type Prediction,
	readGoldenSet,
	referenceBundleDir,
	writeBundle,
} from "@mdp/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "./load.ts";

const bin = fileURLToPath(new URL("../bin/mdp-vm.js", import.meta.url));
const run = (args: string[]) =>
	spawnSync(process.execPath, [bin, ...args], {
		encoding: "utf8",
		timeout: 60_000,
	});

let dir: string;
let golden: GoldenCase[];
let up: ChildProcess | undefined;
beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), "mdp-vm-cli-"));
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
});
afterAll(async () => {
	if (up && up.exitCode === null) up.kill("SIGKILL");
	await rm(dir, { recursive: true, force: true });
});

describe("mdp-vm CLI", () => {
	it.each([
		[["up", "--lb", "nginx"], /--lb must be embedded or haproxy/],
		[
			["up", "--instance-size", "big"],
			/--instance-size must look like 1cpu-512mb/,
		],
		[["up", "--min", "2"], /--min and --max go together/],
		[["update"], /either --bundle NEWDIR or --rollback/],
		[["launch"], /unknown command "launch"/],
	])("refuses %j with exit 2 and a reason", (args, message) => {
		const result = run(args);
		expect(result.status).toBe(2);
		expect(result.stderr).toMatch(message);
	});

	it("update without a running fleet exits 1 and says so", () => {
		const result = run([
			"update",
			"--bundle",
			referenceBundleDir,
			"--state",
			join(dir, "none.json"),
		]);
		expect(result.status).toBe(1);
		expect(result.stderr).toMatch(/no running fleet/);
	});

	it("up serves the golden set through one endpoint, update rolls out or refuses, SIGTERM stops everything", async () => {
		const state = join(dir, "state.json");
		const { manifest, modelBytes } = await loadBundle(referenceBundleDir);
		const v2 = join(dir, "v2", "penguins");
		await writeBundle(v2, {
			manifest: { ...manifest, version: "2.0.0" },
			modelBytes,
		});
		const bad = join(dir, "bad", "penguins");
		await writeBundle(bad, {
			manifest: { ...manifest, version: "3.0.0-broken" },
			modelBytes: new TextEncoder().encode("not a model"),
		});
		up = spawn(
			process.execPath,
			[
				bin,
				"up",
				"--replicas",
				"2",
				"--state",
				state,
				"--log",
				join(dir, "fleet.log"),
			],
			{ stdio: ["ignore", "pipe", "pipe"] },
		);
		let stdout = "";
		let stderr = "";
		up.stdout?.on("data", (d) => {
			stdout += d;
		});
		up.stderr?.on("data", (d) => {
			stderr += d;
		});
		const exited = new Promise<number | null>((r) => up?.once("exit", r));
		expect(
			await until(() => stdout.includes('"event":"endpoint"'), 90_000),
		).toBe(true);
		const endpoint = stdout
			.split("\n")
			.map((l) => (l.startsWith("{") ? JSON.parse(l) : {}))
			.find((l) => l.event === "endpoint") as { url: string };
		const res = await fetch(`${endpoint.url}/predict`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ records: golden.map((g) => g.record) }),
		});
		const body = (await res.json()) as { predictions: Prediction[] };
		expect(compareToGolden(golden, body.predictions)).toEqual([]);
		expect(stderr).toMatch(/2 process-isolated instances \(no hypervisor\)/);
		expect(await until(() => /instances 2\/2 ready/.test(stderr), 5000)).toBe(
			true,
		);
		const pids = (
			JSON.parse(
				await fetch(
					`${JSON.parse(await readFile(state, "utf8")).control}/status`,
					{
						headers: {
							authorization: `Bearer ${JSON.parse(await readFile(state, "utf8")).token}`,
						},
					},
				).then((r) => r.text()),
			) as { units: { role: string; pid?: number }[] }
		).units
			.filter((u) => u.role === "instance")
			.map((u) => u.pid as number);
		expect(pids).toHaveLength(2);

		const updated = run(["update", "--bundle", v2, "--state", state]);
		expect(updated.status, updated.stderr).toBe(0);
		expect(JSON.parse(updated.stdout)).toMatchObject({
			from: { version: "1.0.0" },
			to: { version: "2.0.0" },
			updated: 2,
		});
		const refused = run(["update", "--bundle", bad, "--state", state]);
		expect(refused.status).toBe(1);
		expect(refused.stderr).toMatch(
			/rollout stopped at vm-\d+ \(0 of 2 updated/,
		);
		const after = (await (
			await fetch(`${endpoint.url}/predict`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ records: [golden[0]?.record] }),
			})
		).json()) as { model: { version: string } };
		expect(after.model.version).toBe("2.0.0");
		const rolledBack = run(["update", "--rollback", "--state", state]);
		expect(rolledBack.status, rolledBack.stderr).toBe(0);
		expect(JSON.parse(rolledBack.stdout).to.version).toBe("1.0.0");

		up.kill("SIGTERM");
		expect(await exited).toBe(0);
		expect(stderr).toMatch(/stopped/);
		for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
		expect(existsSync(state)).toBe(false);
		// Logs: instance lines tagged with the instance, in the file and on stdout.
		const logged = (await readFile(join(dir, "fleet.log"), "utf8"))
			.trim()
			.split("\n")
			.map((l) => JSON.parse(l) as { instance: string });
		expect(logged.some((l) => /^vm-\d+$/.test(l.instance))).toBe(true);
		expect(stdout).toMatch(/"instance":"vm-\d+"/);
	});
});
