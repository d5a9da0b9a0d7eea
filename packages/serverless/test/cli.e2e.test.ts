import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
	compareToGolden,
	type Prediction,
	readGoldenSet,
	referenceBundleDir,
} from "@mdp/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InvocationReport } from "../src/platform/function-platform.ts";

const CLI = fileURLToPath(new URL("../bin/mdp-serverless.js", import.meta.url));
const golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));

describe("mdp-serverless package, then serve", () => {
	let work: string;
	let child: ChildProcess | undefined;
	const stdout: string[] = [];
	beforeAll(async () => {
		work = await mkdtemp(join(tmpdir(), "mdp-serverless-cli-"));
	});
	afterAll(async () => {
		if (child && child.exitCode === null && child.signalCode === null) {
			// SIGTERM first: serve then stops its instances and removes their cgroups; SIGKILL if it hangs.
			const closed = new Promise((r) => child?.once("close", r));
			child.kill("SIGTERM");
			const killer = setTimeout(() => child?.kill("SIGKILL"), 5000);
			await closed;
			clearTimeout(killer);
		}
		await rm(work, { recursive: true, force: true });
	});

	it("packages the aws zip, serves golden predictions with a cold then a warm REPORT, throttles, scales to zero and stops on SIGTERM", async () => {
		const zip = join(work, "aws.zip");
		const env = {
			PATH: process.env.PATH ?? "/usr/bin:/bin",
			HOME: tmpdir(),
			ORT_DISABLE_TELEMETRY: "1",
		};
		const packaged = await new Promise<{ code: number | null; out: string }>(
			(resolve) => {
				const p = spawn(
					process.execPath,
					[
						CLI,
						"package",
						"--bundle",
						referenceBundleDir,
						"--provider",
						"aws",
						"--out",
						zip,
					],
					{ env },
				);
				let out = "";
				p.stdout.on("data", (c) => (out += c));
				p.once("close", (code) => resolve({ code, out }));
			},
		);
		expect(packaged.code).toBe(0);
		expect(packaged.out).toMatch(
			/zipped [\d.]+ MB \(\d+ bytes\) of 52\.4 MB allowed/,
		);
		expect(packaged.out).toMatch(/node_modules\/onnxruntime-node\//);

		const reportFile = join(work, "reports.jsonl");
		child = spawn(
			process.execPath,
			[
				CLI,
				"serve",
				"--zip",
				zip,
				"--concurrency",
				"1",
				"--idle-timeout",
				"1500ms",
				"--report",
				reportFile,
			],
			{ env },
		);
		const running = child;
		const url = await new Promise<string>((resolve, reject) => {
			let rest = "";
			running.stdout?.setEncoding("utf8");
			running.stdout?.on("data", (chunk: string) => {
				const lines = (rest + chunk).split("\n");
				rest = lines.pop() ?? "";
				for (const line of lines) {
					stdout.push(line);
					if (line.includes('"listening"')) resolve(JSON.parse(line).url);
				}
			});
			running.once("exit", (code) =>
				reject(new Error(`serve exited with ${code}`)),
			);
		});
		const predict = () =>
			fetch(`${url}/predict`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ records: golden.map((g) => g.record) }),
			});
		const first = await predict();
		expect(first.status).toBe(200);
		expect(
			compareToGolden(
				golden,
				((await first.json()) as { predictions: Prediction[] }).predictions,
			),
		).toEqual([]);
		// One instance allowed: a second request while the first runs is throttled.
		const [a, b] = await Promise.all([predict(), predict()]);
		expect([a.status, b.status].sort()).toEqual([200, 429]);
		// Idle past the timeout: scaled to zero, so the next one is a cold start again.
		await new Promise((r) => setTimeout(r, 2500));
		expect((await predict()).status).toBe(200);
		// REPORT lines follow each response, as on Lambda: wait (bounded) for the third on file and stdout.
		const onFile = async () =>
			(await readFile(reportFile, "utf8").catch(() => ""))
				.split("\n")
				.filter((l) => l !== "")
				.map((l) => JSON.parse(l) as InvocationReport);
		const deadline = Date.now() + 5000;
		while (
			((await onFile()).length < 3 ||
				stdout.filter((l) => l.includes("REPORT RequestId:")).length < 3) &&
			Date.now() < deadline
		)
			await new Promise((r) => setTimeout(r, 25));
		const reports = await onFile();
		expect(reports.map((r) => r.initDurationMs !== undefined)).toEqual([
			true,
			false,
			true,
		]);
		expect(stdout.filter((l) => l.includes("REPORT RequestId:"))).toHaveLength(
			3,
		);
		running.kill("SIGTERM");
		const code = await new Promise((r) => running.once("close", r));
		expect(code).toBe(0);
	}, 120_000);
});
