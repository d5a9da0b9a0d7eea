import { join } from "node:path";
import {
	compareToGolden,
	type GoldenCase,
	type Prediction,
	readGoldenSet,
	referenceBundleDir,
} from "@mdp/core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { start, type VmDeployment } from "../src/index.ts";
import { sleep, steadyLoad, until } from "./load.ts";

let golden: GoldenCase[];
let fleet: VmDeployment | undefined;
beforeAll(async () => {
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
});
afterEach(async () => {
	await fleet?.stop();
	fleet = undefined;
}, 60_000);

const instances = () =>
	fleet?.units().filter((u) => u.role === "instance").length ?? 0;

describe("autoscaling on requests in flight per instance", () => {
	it("scales out under load and back in when it stops, failing no request", async (context) => {
		fleet = await start({
			bundle: referenceBundleDir,
			autoscale: {
				min: 1,
				max: 3,
				targetInFlight: 2,
				scaleOutDelayMs: 500,
				scaleInDelayMs: 1500,
				cooldownMs: 1000,
				intervalMs: 100,
			},
		});
		expect(instances()).toBe(1);
		// 16 keep-alive clients with 50 records each keep well over 2 requests in flight per instance.
		const load = steadyLoad(fleet.url, golden, {
			concurrency: 16,
			recordsPerRequest: 50,
			maxSeconds: 40,
		});
		const grown = await until(() => instances() >= 2, 20_000);
		await sleep(1000);
		const outcomes = await load.stop();
		expect(grown).toBe(true);
		expect(outcomes.filter((o) => !o.ok)).toEqual([]);
		const scaleOut = fleet.events.find(
			(e) => e.type === "scale" && (e.replicas ?? 0) >= 2,
		);
		const ready = fleet.events.find(
			(e) => e.type === "instance-ready" && scaleOut && e.at > scaleOut.at,
		);
		context.annotate(
			`scale-out decision → new instance serving: ${Math.round(ready?.readyMs ?? Number.NaN)} ms`,
		);
		expect(ready?.readyMs).toBeGreaterThan(0);
		// Quiet: back to the minimum, draining first.
		expect(await until(() => instances() === 1, 20_000)).toBe(true);
		expect(fleet.events.map((e) => e.type)).toContain("instance-stopped");
	});

	it("scales from zero: the first request waits while an instance starts", async () => {
		fleet = await start({
			bundle: referenceBundleDir,
			autoscale: { min: 0, max: 1, scaleInDelayMs: 60_000 },
		});
		expect(instances()).toBe(0);
		const res = await fetch(`${fleet.url}/predict`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ records: golden.map((g) => g.record) }),
		});
		expect(res.status).toBe(200);
		const body = (await res.json()) as { predictions: Prediction[] };
		expect(compareToGolden(golden, body.predictions)).toEqual([]);
		expect(instances()).toBe(1);
	});
});
