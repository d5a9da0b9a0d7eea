import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	compareToGolden,
	type GoldenCase,
	loadBundle,
	type Prediction,
	readGoldenSet,
	referenceBundleDir,
	writeBundle,
} from "@mdp/core";
import { findHaproxy } from "@mdp/core/balancer";
import { runsWith } from "@mdp/core/testing";
import { createRandom, createRandomMlp, toOnnxBytes } from "@mdp/core/training";
import { afterAll, beforeAll, describe, expect, it as itIf } from "vitest";
import { start, type VmDeployment } from "../src/index.ts";
import { type Outcome, sleep, steadyLoad, until } from "./load.ts";

// Faults under a steady keep-alive load against one fleet of 3 instances per balancer. The tests of a
// balancer run in order on the same fleet; each leaves it at 3 ready instances.

let dir: string;
let golden: GoldenCase[];
let v2: string;
let badBundle: string;
let retrained: string;

beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), "mdp-vm-faults-"));
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
	const { manifest, modelBytes } = await loadBundle(referenceBundleDir);
	const goldenText = await readFile(
		join(referenceBundleDir, "golden.jsonl"),
		"utf8",
	);
	// A new version with the same weights: what a retrain that changed nothing would ship.
	v2 = join(dir, "v2", "penguins");
	await writeBundle(v2, {
		manifest: { ...manifest, version: "1.1.0" },
		modelBytes,
		extraFiles: { "golden.jsonl": goldenText },
	});
	// Manifest and hash in order, model not ONNX at all: only loading it can refuse it.
	badBundle = join(dir, "bad", "penguins");
	await writeBundle(badBundle, {
		manifest: { ...manifest, version: "9.9.9-broken" },
		modelBytes: new TextEncoder().encode("not an onnx graph"),
	});
	// Same name and version as v2 (what the fleet serves by then), other weights: retrained without
	// bumping the version.
	retrained = join(dir, "retrained", "penguins");
	const mlp = createRandomMlp(
		[manifest.model.input.columns, 8, manifest.target.labels.length],
		createRandom(7),
	);
	await writeBundle(retrained, {
		manifest: { ...manifest, version: "1.1.0" },
		modelBytes: toOnnxBytes(mlp, {
			graphName: "retrained",
			inputName: manifest.model.input.name,
			outputName: manifest.model.output.name,
			producerVersion: "0",
		}),
	});
}, 120_000);

afterAll(async () => {
	await rm(dir, { recursive: true, force: true });
}, 60_000);

const failed = (outcomes: Outcome[]) => outcomes.filter((o) => !o.ok);

describe.each([
	["embedded", true],
	["haproxy", runsWith("haproxy", findHaproxy() !== undefined)],
] as const)(
	"vm fleet under faults (%s balancer, 3 instances)",
	(lb, available) => {
		let fleet: VmDeployment;
		const logLines: string[] = [];
		beforeAll(async () => {
			if (!available) return;
			fleet = await start({
				bundle: referenceBundleDir,
				replicas: 3,
				lb,
				logFile: join(dir, `fleet-${lb}.log`),
				onLog: (entry) => {
					logLines.push(JSON.stringify(entry));
				},
			});
		}, 120_000);
		afterAll(async () => {
			await fleet?.stop();
		}, 60_000);
		const it = available ? itIf : itIf.skip;
		const instancePids = () =>
			fleet
				.units()
				.filter((u) => u.role === "instance")
				.map((u) => u.pid as number);
		const readyCount = async () =>
			(await fleet.balancer.list()).filter((u) => u.healthy && !u.draining)
				.length;

		it("replaces an instance killed with SIGKILL, failing at most 2 requests", async (context) => {
			const load = steadyLoad(fleet.url, golden);
			await sleep(500);
			const [victim] = instancePids();
			process.kill(victim as number, "SIGKILL");
			expect(
				await until(
					async () => fleet.replacements === 1 && (await readyCount()) === 3,
					30_000,
				),
			).toBe(true);
			await sleep(300);
			const outcomes = await load.stop();
			context.annotate(
				`${lb}: kill -9: ${failed(outcomes).length} failed of ${outcomes.length}`,
			);
			expect(failed(outcomes).length).toBeLessThanOrEqual(2);
			expect(outcomes.length).toBeGreaterThan(50);
			expect(instancePids()).not.toContain(victim);
			expect(instancePids()).toHaveLength(3);
			expect(fleet.events.map((e) => e.type)).toContain("instance-died");
		});

		it("takes a frozen (SIGSTOP) instance out of the pool within 2 s, then replaces it", async (context) => {
			const load = steadyLoad(fleet.url, golden);
			await sleep(500);
			const [victim] = instancePids();
			const id = fleet.units().find((u) => u.pid === victim)?.id as string;
			const frozenAt = performance.now();
			process.kill(victim as number, "SIGSTOP");
			try {
				expect(
					await until(
						async () =>
							!(await fleet.balancer.list()).find((u) => u.id === id)?.healthy,
						5000,
					),
				).toBe(true);
				const outAt = performance.now();
				expect(outAt - frozenAt).toBeLessThan(2000);
				expect(
					await until(
						async () => fleet.replacements === 2 && (await readyCount()) === 3,
						30_000,
					),
				).toBe(true);
				const outcomes = await load.stop();
				// Requests sent once it was out of the pool (those already on it wait for its replacement).
				const failedAfter = failed(outcomes).filter((o) => o.sent > outAt);
				context.annotate(
					`${lb}: freeze: out of the pool after ${Math.round(outAt - frozenAt)} ms; ${failed(outcomes).length} failed of ${outcomes.length} (${failedAfter.length} after)`,
				);
				expect(failedAfter.length).toBeLessThanOrEqual(2);
				expect(fleet.events.map((e) => e.type)).toContain("instance-frozen");
				expect(instancePids()).not.toContain(victim);
			} finally {
				await load.stop();
				try {
					process.kill(victim as number, "SIGKILL");
				} catch {
					// Already gone (the fleet killed it).
				}
			}
		});

		it("rolls a new version out under load with zero failed requests, each answer from one model", async () => {
			const load = steadyLoad(fleet.url, golden);
			await sleep(300);
			const update = await fleet.updateModel(v2);
			await sleep(300);
			const outcomes = await load.stop();
			expect(failed(outcomes)).toEqual([]);
			expect(new Set(outcomes.map((o) => o.version))).toEqual(
				new Set(["1.0.0", "1.1.0"]),
			);
			expect(outcomes.at(-1)?.version).toBe("1.1.0");
			expect(update).toMatchObject({
				from: { version: "1.0.0" },
				to: { version: "1.1.0" },
				updated: 3,
			});
			expect((await fleet.status()).model.version).toBe("1.1.0");
			// Each instance was drained through its own admin API too (no "route missing" notice).
			expect(fleet.events.filter((e) => e.type === "notice")).toEqual([]);
		});

		it("stops the rollout at the first instance on a bad bundle; the fleet keeps the old model", async () => {
			const load = steadyLoad(fleet.url, golden);
			await sleep(200);
			await expect(fleet.updateModel(badBundle)).rejects.toThrow(
				/rollout stopped at vm-\d+ \(0 of 3 updated/,
			);
			await sleep(200);
			const outcomes = await load.stop();
			expect(failed(outcomes)).toEqual([]);
			expect(new Set(outcomes.map((o) => o.version))).toEqual(
				new Set(["1.1.0"]),
			);
			expect(fleet.events.at(-1)).toMatchObject({ type: "update-failed" });
			expect(await readyCount()).toBe(3);
		});

		it("treats the same name and version with another digest as a new model, and rolls back", async () => {
			const before = (await fleet.status()).model;
			const update = await fleet.updateModel(retrained);
			expect(before.version).toBe("1.1.0");
			expect(update.from).toEqual(before);
			expect([update.to.name, update.to.version]).toEqual([
				"penguins",
				"1.1.0",
			]);
			expect(update.to.sha256).not.toBe(before.sha256);
			expect(update.updated).toBe(3);
			const predict = async () => {
				const res = await fetch(`${fleet.url}/predict`, {
					method: "POST",
					headers: { "content-type": "application/json" },
					body: JSON.stringify({ records: golden.map((g) => g.record) }),
				});
				return ((await res.json()) as { predictions: Prediction[] })
					.predictions;
			};
			// Every instance now answers with the other weights: the golden set no longer matches.
			for (let i = 0; i < 3; i++)
				expect(compareToGolden(golden, await predict()).length).toBeGreaterThan(
					0,
				);
			const back = await fleet.rollback();
			expect(back.to).toEqual(before);
			for (let i = 0; i < 3; i++)
				expect(compareToGolden(golden, await predict())).toEqual([]);
		});

		it("scales out and in under load with zero failed requests; the new instance takes keep-alive load", async (context) => {
			const load = steadyLoad(fleet.url, golden);
			await sleep(300);
			const asked = performance.now();
			await fleet.scale(4);
			const scaledMs = performance.now() - asked;
			expect(instancePids()).toHaveLength(4);
			const newest = (await fleet.balancer.list()).at(-1);
			const before = newest?.total ?? 0;
			const sentBefore = load.outcomes.length;
			await sleep(1000);
			const sentDuring = load.outcomes.length - sentBefore;
			const after = (await fleet.balancer.list()).find(
				(u) => u.id === newest?.id,
			);
			expect((after?.total ?? 0) - before).toBeGreaterThan(5);
			const share = ((after?.total ?? 0) - before) / Math.max(sentDuring, 1);
			await fleet.scale(3);
			await sleep(300);
			const outcomes = await load.stop();
			context.annotate(
				`${lb}: scale 3 → 4 took ${Math.round(scaledMs)} ms; the new instance took ${Math.round(share * 100)} % of the keep-alive load in its first second; ${failed(outcomes).length} failed of ${outcomes.length}`,
			);
			expect(failed(outcomes)).toEqual([]);
			expect(instancePids()).toHaveLength(3);
		});

		it("writes every instance's log lines, tagged, to one JSON-lines file", async () => {
			const lines = readFileSync(join(dir, `fleet-${lb}.log`), "utf8")
				.trim()
				.split("\n")
				.map((l) => JSON.parse(l) as { instance: string; stream: string });
			const tagged = new Set(lines.map((l) => l.instance));
			expect(tagged.has("fleet")).toBe(true);
			expect(
				[...tagged].filter((t) => /^vm-\d+$/.test(t)).length,
			).toBeGreaterThanOrEqual(5);
			expect(lines.some((l) => l.stream === "stdout")).toBe(true);
			expect(logLines.length).toBeGreaterThan(0);
		});
	},
);
