import { join } from "node:path";
import {
	compareToGolden,
	type Prediction,
	readGoldenSet,
	referenceBundleDir,
} from "@mdp/core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type ServerlessDeployment, start } from "../src/start.ts";

const golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));

describe("serverless deployment of the reference model", () => {
	let deployment: ServerlessDeployment;
	/** What the instances wrote (stdout and stderr) and the REPORT lines. */
	const lines: string[] = [];
	beforeAll(async () => {
		deployment = await start({
			zip: inject("awsZip"),
			concurrency: 2,
			log: (line) => lines.push(line),
		});
	});
	afterAll(async () => {
		await deployment?.stop();
	});

	it("starts with no function instance (scale to zero), only the gateway", () => {
		expect(deployment.units()).toEqual([
			{ role: "gateway", id: "gateway", pid: process.pid },
		]);
	});

	it("cold-starts an instance under the runtime interface client and reports the init phases", async () => {
		const res = await fetch(`${deployment.url}/predict`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ records: golden.map((g) => g.record) }),
		});
		expect(res.status).toBe(200);
		const body = (await res.json()) as { predictions: Prediction[] };
		expect(compareToGolden(golden, body.predictions)).toEqual([]);
		const [report] = deployment.platform.reports();
		expect(report?.status).toBe(200);
		expect(report?.initDurationMs).toBeGreaterThan(0);
		const cold = report?.coldStart;
		for (const phase of [
			"spawnMs",
			"runtimeMs",
			"onnxRuntimeLoadMs",
			"sessionMs",
			"warmUpMs",
			"firstInferenceMs",
			"firstResponseMs",
		] as const)
			expect(cold?.[phase], phase).toBeGreaterThan(0);
		// The handler's warm-up request at init was answered 200: it says nothing otherwise.
		expect(lines.filter((l) => /warm-up/.test(l))).toEqual([]);
		// The phases are parts of the whole: spawn + runtime + ORT + session + warm-up ≤ init duration.
		const parts =
			(cold?.spawnMs ?? 0) +
			(cold?.runtimeMs ?? 0) +
			(cold?.onnxRuntimeLoadMs ?? 0) +
			(cold?.sessionMs ?? 0) +
			(cold?.warmUpMs ?? 0);
		expect(parts).toBeLessThanOrEqual((report?.initDurationMs ?? 0) + 5);
		const units = deployment.units().filter((u) => u.role === "function");
		expect(units).toHaveLength(1);
		expect(units[0]?.pid).toBeGreaterThan(0);
	});

	it("serves the next request warm, on the same instance, without an init", async () => {
		const res = await fetch(`${deployment.url}/v2/health/ready`);
		expect([res.status, await res.json()]).toEqual([200, { ready: true }]);
		const reports = deployment.platform.reports();
		expect(reports.at(-1)?.initDurationMs).toBeUndefined();
		expect(reports.at(-1)?.instance).toBe(reports[0]?.instance);
	});

	it("scales to provisioned instances and back to zero", async () => {
		await deployment.scale(2);
		const functions = () =>
			deployment.units().filter((u) => u.role === "function");
		expect(functions()).toHaveLength(2);
		const res = await fetch(`${deployment.url}/v2/health/ready`);
		expect(res.status).toBe(200);
		expect(
			deployment.platform.reports().at(-1)?.initDurationMs,
		).toBeUndefined();
		await deployment.scale(0);
		const deadline = Date.now() + 10_000;
		while (functions().length > 0 && Date.now() < deadline)
			await new Promise((r) => setTimeout(r, 25));
		expect(functions()).toEqual([]);
	});
});
