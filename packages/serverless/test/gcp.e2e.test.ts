import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	compareToGolden,
	type Prediction,
	readGoldenSet,
	referenceBundleDir,
} from "@mdp/core";
import {
	afterAll,
	afterEach,
	beforeAll,
	describe,
	expect,
	inject,
	it,
} from "vitest";
import {
	type FunctionPlatform,
	startFunctionPlatform,
} from "../src/platform/function-platform.ts";

const golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
let work: string;
let zip: string;
const platforms: FunctionPlatform[] = [];

beforeAll(async () => {
	work = await mkdtemp(join(tmpdir(), "mdp-gcp-test-"));
	zip = inject("gcpZip");
});
afterEach(async () => {
	await Promise.all(platforms.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
	await rm(work, { recursive: true, force: true });
});

async function predictAll(url: string, n: number): Promise<Response[]> {
	return Promise.all(
		Array.from({ length: n }, (_, i) =>
			fetch(`${url}/predict`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ records: [golden[i % golden.length]?.record] }),
			}),
		),
	);
}

describe("gcp zip on the local platform, under functions-framework", () => {
	it("runs each instance as functions-framework serving the registered target, one request per instance by default", async () => {
		const p = await startFunctionPlatform({
			zip,
			provider: "gcp",
			concurrency: 3,
			log: null,
		});
		platforms.push(p);
		const responses = await predictAll(p.url, 3);
		expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
		const predictions = await Promise.all(
			responses.map(
				async (r) =>
					((await r.json()) as { predictions: Prediction[] }).predictions[0],
			),
		);
		expect(
			compareToGolden(golden.slice(0, 3), predictions as Prediction[]),
		).toEqual([]);
		expect(p.stats()).toMatchObject({ instancesCreated: 3, coldStarts: 3 });
		for (const instance of p.instances()) {
			const cmdline = (
				await readFile(`/proc/${instance.pid}/cmdline`, "utf8")
			).split("\0");
			expect(
				cmdline.some((a) =>
					a.endsWith("functions-framework/build/src/main.js"),
				),
			).toBe(true);
			expect(cmdline).toContain("--target=predict");
		}
		// Warm: the next request reuses an instance, with no init.
		await predictAll(p.url, 1);
		expect(p.reports().at(-1)?.initDurationMs).toBeUndefined();
		expect(p.stats().instancesCreated).toBe(3);
	});

	it("serves several requests on one instance when the per-instance concurrency allows it", async () => {
		const p = await startFunctionPlatform({
			zip,
			provider: "gcp",
			concurrency: 3,
			perInstanceConcurrency: 3,
			log: null,
		});
		platforms.push(p);
		const responses = await predictAll(p.url, 3);
		expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
		expect(p.stats()).toMatchObject({ instancesCreated: 1, coldStarts: 1 });
		expect(p.reports()[0]?.coldStart?.sessionMs).toBeGreaterThan(0);
	});
});
