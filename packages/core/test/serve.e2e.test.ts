import { cp, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startServeProcess } from "../src/http/index.ts";
import { referenceBundleDir } from "../src/index.ts";
import { startServeDeployment } from "../src/process/index.ts";
import { describeDeploymentContract } from "../src/testing/index.ts";

/** A model repository in a temp dir holding a copy of the reference bundle. */
async function repository() {
	const root = await mkdtemp(join(tmpdir(), "mdp-serve-"));
	await cp(referenceBundleDir, join(root, "penguins"), { recursive: true });
	return root;
}

for (const batching of [false, true]) {
	describeDeploymentContract(
		`mdp-core serve${batching ? " (adaptive batching, the default)" : " --batch-max-rows 0"}`,
		() =>
			startServeDeployment({
				bundle: referenceBundleDir,
				args: batching ? [] : ["--batch-max-rows", "0"],
			}),
	);
}

describe("mdp-core serve shutdown", () => {
	it("on SIGTERM finishes the requests in flight, then exits 0", async () => {
		const root = await repository();
		try {
			// A 300 ms batching delay keeps requests in flight long enough to send SIGTERM among them.
			const server = await startServeProcess({
				args: [
					"--bundle",
					join(root, "penguins"),
					"--batch-max-rows",
					"1000",
					"--batch-delay-ms",
					"300",
				],
			});
			const golden = (
				await readFile(join(referenceBundleDir, "golden.jsonl"), "utf8")
			)
				.trim()
				.split("\n")
				.map((l) => JSON.parse(l));
			const inFlight = golden.slice(0, 10).map((g) =>
				fetch(`${server.url}/predict`, {
					method: "POST",
					body: JSON.stringify({ records: [g.record] }),
				}).then(
					async (r) =>
						[r.status, (await r.json()) as { predictions: unknown[] }] as const,
				),
			);
			await new Promise((r) => setTimeout(r, 100));
			const code = server.stop();
			const results = await Promise.all(inFlight);
			expect(results.map(([status]) => status)).toEqual(results.map(() => 200));
			expect(results.map(([, body]) => body.predictions[0])).toEqual(
				golden.slice(0, 10).map((g) => g.expected),
			);
			expect(await code).toBe(0);
			await expect(fetch(`${server.url}/v2/health/live`)).rejects.toThrow();
		} finally {
			await rm(root, { recursive: true, force: true });
		}
	});

	it("refuses to start on a bad bundle, naming it", async () => {
		await expect(
			startServeProcess({ args: ["--bundle", "/nonexistent/bundle"] }),
		).rejects.toThrow(/\/nonexistent\/bundle\/mdp\.json: file not found/);
	});
});

describe("mdp-core serve /metrics", () => {
	it("exports the process's event-loop delay and GC time beside the mdp_ metrics, once", async () => {
		const server = await startServeProcess({
			args: ["--bundle", referenceBundleDir],
		});
		try {
			const res = await fetch(`${server.url}/predict`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ records: [{}] }),
			});
			expect(res.status).toBe(400);
			const text = await (await fetch(`${server.url}/metrics`)).text();
			expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
			expect(text).toMatch(/^# TYPE nodejs_gc_duration_seconds histogram$/m);
			expect(text).toMatch(/^process_cpu_seconds_total \d/m);
			expect(
				text.match(/^# TYPE nodejs_eventloop_lag_p99_seconds/gm),
			).toHaveLength(1);
			expect(text).toMatch(
				/^mdp_http_requests_total\{route="\/predict",method="POST",status="400"\} 1$/m,
			);
		} finally {
			await server.stop();
		}
	});
});
