import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { referenceBundleDir } from "../src/index.ts";

const cli = join(import.meta.dirname, "..", "bin", "mdp-core.js");
const goldenPath = join(referenceBundleDir, "golden.jsonl");

function run(args: string[], input?: string) {
	const result = spawnSync(process.execPath, [cli, ...args], {
		input,
		encoding: "utf8",
		timeout: 60_000,
	});
	return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("mdp-core CLI", () => {
	it("predict --input golden.jsonl reproduces every expected output", () => {
		const { code, stdout } = run([
			"predict",
			"--bundle",
			referenceBundleDir,
			"--input",
			goldenPath,
		]);
		expect(code).toBe(0);
		const expected = readFileSync(goldenPath, "utf8")
			.trim()
			.split("\n")
			.map((line) => {
				const g = JSON.parse(line);
				return JSON.stringify({ id: g.id, ...g.expected });
			});
		expect(stdout.trim().split("\n")).toEqual(expected);
	});

	it("predict keeps good lines, writes an error line for each bad one and exits 1", () => {
		const golden = JSON.parse(
			readFileSync(goldenPath, "utf8").split("\n")[0] as string,
		);
		const input = [
			JSON.stringify(golden.record),
			"{not json",
			JSON.stringify({ ...golden.record, Island: "Mars" }),
			"",
			JSON.stringify(golden.record),
		].join("\n");
		const { code, stdout, stderr } = run(["predict"], input);
		expect(code).toBe(1);
		const lines = stdout
			.trim()
			.split("\n")
			.map((l) => JSON.parse(l));
		expect(lines).toHaveLength(4);
		expect(lines[0]).toEqual(golden.expected);
		expect(lines[1]).toMatchObject({
			line: 2,
			error: expect.stringContaining("not valid JSON"),
		});
		expect(lines[2]).toMatchObject({
			line: 3,
			issues: [{ field: "Island", got: 'unknown category string "Mars"' }],
		});
		expect(lines[3]).toEqual(golden.expected);
		expect(stderr).toContain("2 of the input lines were rejected");
	});

	it("verify checks the golden set", () => {
		const { code, stdout } = run(["verify"]);
		expect(code).toBe(0);
		expect(stdout).toMatch(/^(\d+)\/\1 golden cases reproduced exactly/);
	});

	it("exits 2 with a message on bad usage", () => {
		expect(run(["launch"])).toMatchObject({
			code: 2,
			stderr: expect.stringContaining('unknown command "launch"'),
		});
		expect(run(["predict", "--colour", "red"])).toMatchObject({
			code: 2,
			stderr: expect.stringContaining("Unknown option '--colour'"),
		});
		expect(run(["synth", "--out", "/tmp/x"])).toMatchObject({
			code: 2,
			stderr: expect.stringContaining("--size"),
		});
		expect(run(["serve", "--timeout-ms", "0"])).toMatchObject({
			code: 2,
			stderr: expect.stringContaining(
				'--timeout-ms must be a positive integer, got "0"',
			),
		});
	});

	it("exits 1 naming the file when the bundle is bad", () => {
		expect(run(["predict", "--bundle", "/nonexistent"], "")).toMatchObject({
			code: 1,
			stderr: expect.stringContaining("/nonexistent/mdp.json: file not found"),
		});
	});

	it("prints usage on --help", () => {
		expect(run(["--help"])).toMatchObject({
			code: 0,
			stdout: expect.stringContaining("mdp-core predict"),
		});
	});

	it("answers line by line when used interactively, before its input ends", async () => {
		const child = spawn(process.execPath, [cli, "predict"], {
			stdio: ["pipe", "pipe", "inherit"],
		});
		const golden = JSON.parse(
			readFileSync(goldenPath, "utf8").split("\n")[0] as string,
		);
		const firstLine = new Promise<string>((resolve) => {
			let text = "";
			child.stdout.on("data", (chunk: Buffer) => {
				text += chunk.toString();
				if (text.includes("\n")) resolve(text.split("\n")[0] as string);
			});
		});
		child.stdin.write(`${JSON.stringify(golden.record)}\n`);
		expect(JSON.parse(await firstLine)).toEqual(golden.expected);
		child.stdin.end();
		expect(await new Promise((r) => child.once("exit", r))).toBe(0);
	});
});
