import { spawnSync } from "node:child_process";
import {
	copyFile,
	mkdtemp,
	readdir,
	readFile,
	rm,
	stat,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { referenceBundleDir } from "@mdp/core";
import { runsWith } from "@mdp/core/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildExecutable } from "../src/index.ts";

const goldenPath = join(referenceBundleDir, "golden.jsonl");
let dir: string;
let binary: string;
let goldenText: string;
let expected: string[];

beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), "mdp-sea-test-"));
	const built = await buildExecutable({
		bundle: referenceBundleDir,
		out: join(dir, "build", "penguins"),
	});
	// Alone in an empty folder: no Node next to it, no node_modules anywhere up the tree that it could use.
	binary = join(dir, "alone", "penguins");
	await import("node:fs/promises").then((fs) => fs.mkdir(join(dir, "alone")));
	await copyFile(built.path, binary);
	await import("node:fs/promises").then((fs) => fs.chmod(binary, 0o755));
	goldenText = await readFile(goldenPath, "utf8");
	expected = goldenText
		.trim()
		.split("\n")
		.map((line) => {
			const g = JSON.parse(line);
			return JSON.stringify({ id: g.id, ...g.expected });
		});
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Runs the binary with a minimal environment: no PATH to a Node, a fresh HOME and cache. */
function run(
	args: string[],
	input: string,
	wrapper: string[] = [],
	cache = join(dir, "cache"),
) {
	const [command, ...rest] = [...wrapper, binary, ...args] as [
		string,
		...string[],
	];
	const result = spawnSync(command, rest, {
		input,
		encoding: "utf8",
		cwd: join(dir, "alone"),
		env: {
			PATH: "/nonexistent",
			HOME: join(dir, "home"),
			MDP_CACHE_DIR: cache,
		},
		timeout: 60_000,
		maxBuffer: 64 * 1024 * 1024,
	});
	if (result.error) throw result.error;
	return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Absolute path of a tool (the binary runs with an empty PATH), if installed. */
const which = (tool: string) =>
	spawnSync("sh", ["-c", `command -v ${tool}`], {
		encoding: "utf8",
	}).stdout.trim() || undefined;
const unshare = which("unshare");
const strace = which("strace");
const canUnshare =
	unshare !== undefined && spawnSync(unshare, ["-n", "true"]).status === 0;
const hasStrace = strace !== undefined;

describe("the single executable", () => {
	it("reproduces the golden set alone in an empty folder, with no Node on PATH", () => {
		const { code, stdout } = run([], goldenText);
		expect(code).toBe(0);
		expect(stdout.trim().split("\n")).toEqual(expected);
	});

	it.runIf(runsWith("unshare -n", canUnshare))(
		"reproduces the golden set with the network cut (unshare -n)",
		() => {
			const { code, stdout } = run(["--input", goldenPath], "", [
				unshare as string,
				"-n",
			]);
			expect(code).toBe(0);
			expect(stdout.trim().split("\n")).toEqual(expected);
		},
	);

	it.runIf(runsWith("strace", hasStrace))(
		"makes no network or DNS attempt and writes only inside its cache folder",
		async () => {
			const cache = join(dir, "fresh-cache");
			const trace = join(dir, "trace.txt");
			const { code } = run(
				[],
				goldenText,
				[
					strace as string,
					"-f",
					"-qq",
					"-o",
					trace,
					"-e",
					"trace=socket,connect,sendto,openat,creat,mkdir,rename,unlink",
				],
				cache,
			);
			expect(code).toBe(0);
			const lines = (await readFile(trace, "utf8")).split("\n");
			expect(
				lines.filter((l) => /socket\(AF_INET|connect\(|sendto\(/.test(l)),
			).toEqual([]);
			const writes = lines
				.filter(
					(l) =>
						/O_WRONLY|O_RDWR|O_CREAT|creat\(|mkdir\(|rename\(|unlink\(/.test(
							l,
						) && !/= -1 /.test(l),
				)
				.map((l) => /"([^"]+)"/.exec(l)?.[1] ?? l)
				.filter((path) => !path.startsWith(cache) && !path.startsWith("/dev/"));
			expect(writes).toEqual([]);
			expect(await readdir(cache)).toEqual([
				expect.stringMatching(/^onnxruntime-linux-x64-[0-9a-f]{16}$/),
			]);
		},
	);

	it("keeps good lines, writes an error line per bad one, exits 1", () => {
		const [first] = goldenText.split("\n");
		const { code, stdout, stderr } = run(
			[],
			[first, "{oops", '{"Island":"Mars"}', first].join("\n"),
		);
		expect(code).toBe(1);
		const lines = stdout.trim().split("\n");
		expect(lines).toHaveLength(4);
		expect([lines[0], lines[3]]).toEqual([expected[0], expected[0]]);
		expect(JSON.parse(lines[1] as string)).toMatchObject({
			line: 2,
			error: expect.stringContaining("not valid JSON"),
		});
		expect(JSON.parse(lines[2] as string)).toMatchObject({
			line: 3,
			issues: [{ field: "Island" }],
		});
		expect(stderr).toContain("2 input line(s) rejected");
	});

	it("explains itself with --help and refuses unknown flags with exit 2", () => {
		expect(run(["--help"], "")).toMatchObject({
			code: 0,
			stdout: expect.stringContaining("penguins 1.0.0"),
		});
		expect(run(["--colour"], "")).toMatchObject({
			code: 2,
			stderr: expect.stringContaining("--colour"),
		});
		expect(JSON.parse(run(["--info"], "").stdout)).toMatchObject({
			name: "penguins",
			labels: ["Adelie", "Chinstrap", "Gentoo"],
		});
	});

	it("is one file; a failed build leaves no partial output", async () => {
		expect((await stat(binary)).size).toBeGreaterThan(50e6);
		const out = join(dir, "failed", "bin");
		await expect(
			buildExecutable({ bundle: join(dir, "nowhere"), out }),
		).rejects.toMatchObject({ code: "INVALID_BUNDLE" });
		await expect(stat(out)).rejects.toThrow();
	});
});
