import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { referenceBundleDir } from "@mdp/core";
import { synthesizeBundle } from "@mdp/core/training";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SIZE_LIMITS } from "../src/limits.ts";
import { zipFolder } from "../src/package-function.ts";

const CLI = fileURLToPath(new URL("../bin/mdp-serverless.js", import.meta.url));

function runCli(
	args: string[],
	extraEnv: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, [CLI, ...args], {
			env: {
				PATH: process.env.PATH ?? "/usr/bin:/bin",
				HOME: tmpdir(),
				ORT_DISABLE_TELEMETRY: "1",
				...extraEnv,
			},
			stdio: ["ignore", "pipe", "pipe"],
		});
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", (c) => (stdout += c));
		child.stderr.on("data", (c) => (stderr += c));
		const timer = setTimeout(() => child.kill("SIGKILL"), 150_000);
		child.once("error", reject);
		child.once("close", (code) => {
			clearTimeout(timer);
			resolve({ code, stdout, stderr });
		});
	});
}

describe("provider size limits", () => {
	let work: string;
	beforeAll(async () => {
		work = await mkdtemp(join(tmpdir(), "mdp-size-limits-"));
	});
	afterAll(async () => {
		await rm(work, { recursive: true, force: true });
	});

	it("fails the aws package of a 300 MB model with the sizes, the limit and the largest entries, writing nothing", async () => {
		const bundle = join(work, "synthetic-300mb");
		await synthesizeBundle({
			out: bundle,
			sizeBytes: 300e6,
			from: referenceBundleDir,
		});
		const out = join(work, "out", "too-big.zip");
		const result = await runCli([
			"package",
			"--bundle",
			bundle,
			"--provider",
			"aws",
			"--out",
			out,
		]);
		expect(result.code).toBe(1);
		expect(result.stderr).toMatch(
			/unzipped size 3\d\d\.\d MB \(\d+ bytes\) exceeds the aws limit of 262\.1 MB \(262144000 bytes\)/,
		);
		expect(result.stderr).toMatch(
			/source: AWS Lambda Developer Guide, Lambda quotas .*read 2026-11/,
		);
		expect(result.stderr).toMatch(
			/largest entries:\n\s+3\d\d\.\d MB {2}model\/model\.onnx\n\s+4\d\.\d MB {2}node_modules\/onnxruntime-node\/bin\/napi-v6\/linux\/x64\/libonnxruntime\.so\.1/,
		);
		expect(await readdir(join(work, "out"))).toEqual([]);
	}, 180_000);

	it("fails a package whose zip is over the zipped limit though its content is under the unzipped one", async () => {
		const dir = join(work, "incompressible");
		await mkdir(dir);
		// Random bytes do not compress: 56 MB stays 56 MB zipped, over aws's 50 MB, under its 250 MB.
		await writeFile(join(dir, "blob.bin"), randomBytes(56 * 2 ** 20));
		await writeFile(
			join(dir, "index.mjs"),
			"export const handler = async () => 1;\n",
		);
		const out = join(work, "zipped-over.zip");
		await expect(zipFolder({ dir, provider: "aws", out })).rejects.toThrow(
			new RegExp(
				`zipped size 5\\d\\.\\d MB \\(\\d+ bytes\\) exceeds the aws limit of 52\\.4 MB \\(${SIZE_LIMITS.aws.compressedBytes} bytes\\)`,
			),
		);
		await expect(readdir(work)).resolves.not.toContain("zipped-over.zip");
		// The same content fits gcp's 100 MB.
		const gcp = await zipFolder({
			dir,
			provider: "gcp",
			out: join(work, "gcp-ok.zip"),
		});
		expect(gcp.compressedBytes).toBeGreaterThan(56 * 2 ** 20);
	}, 120_000);

	it("refuses a missing or broken zip for serve with a message, exit 1 or 2, and leaves nothing behind", async () => {
		// The CLI's temporary folders go to a folder of this test's own, which must stay empty.
		const temp = join(work, "cli-tmp");
		await mkdir(temp);
		const env = { TMPDIR: temp };
		const missing = await runCli(
			["serve", "--zip", join(work, "nope.zip")],
			env,
		);
		expect([missing.code, missing.stderr]).toEqual([
			1,
			expect.stringMatching(/cannot read the function package .*nope\.zip/),
		]);
		const notZip = join(work, "not-a.zip");
		await writeFile(notZip, "plain text");
		const broken = await runCli(["serve", "--zip", notZip], env);
		expect([broken.code, broken.stderr]).toEqual([
			2,
			expect.stringMatching(/not-a\.zip is not a zip file/),
		]);
		const memory = await runCli(
			["serve", "--zip", notZip, "--memory", "64"],
			env,
		);
		expect([memory.code, memory.stderr]).toEqual([
			2,
			expect.stringMatching(/memory 64 MB is outside Lambda's 128–10240 MB/),
		]);
		// tsx keeps its compile cache there (tsx-0); nothing of ours may remain.
		expect((await readdir(temp)).filter((n) => !n.startsWith("tsx-"))).toEqual(
			[],
		);
	}, 60_000);

	it("refuses bad usage with exit 2 and a message", async () => {
		const result = await runCli([
			"package",
			"--provider",
			"aws",
			"--out",
			join(work, "x.zip"),
		]);
		expect(result.code).toBe(2);
		expect(result.stderr).toMatch(/package needs --bundle DIR/);
		const provider = await runCli([
			"package",
			"--bundle",
			referenceBundleDir,
			"--provider",
			"heroku",
			"--out",
			join(work, "x.zip"),
		]);
		expect([provider.code, provider.stderr]).toEqual([
			2,
			expect.stringMatching(
				/--provider must be one of aws, gcp, azure, got "heroku"/,
			),
		]);
	}, 60_000);
});
