import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import {
	mkdir,
	mkdtemp,
	readFile,
	rm,
	stat,
	writeFile,
} from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runsWith } from "@mdp/core/testing";
import { publint } from "publint";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Every publishable package, packed as npm would publish it, installed with plain npm in a project outside
// the repository (no pnpm, no workspace, no tsx), then used the way its README says.
const root = join(import.meta.dirname, "..", "..", "..");
const packages = readdirSync(join(root, "packages"))
	.map((dir) => ({
		dir: join(root, "packages", dir),
		manifest: JSON.parse(
			readFileSync(join(root, "packages", dir, "package.json"), "utf8"),
		) as { name: string; private?: boolean; version: string },
	}))
	.filter((p) => !p.manifest.private);

/** A fenced block of a README marked as its runnable example, with what it must print. */
interface Example {
	lang: "js" | "sh";
	code: string;
	expect: RegExp[];
	/** Marked `needs-docker`: runs where a Docker engine answers (always in CI). */
	needsDocker: boolean;
}

/** The blocks fenced as ```js example or ```sh example, each followed by `<!-- expect: REGEX -->` lines. */
function readmeExamples(markdown: string): Example[] {
	const examples: Example[] = [];
	const fence =
		/```(js|sh) example( needs-docker)?\n([\s\S]*?)```\n((?:<!-- expect: .* -->\n?)*)/g;
	for (const match of markdown.matchAll(fence)) {
		examples.push({
			lang: match[1] as "js" | "sh",
			needsDocker: match[2] !== undefined,
			code: match[3] as string,
			expect: [...(match[4] ?? "").matchAll(/<!-- expect: (.*) -->/g)].map(
				(m) => new RegExp(m[1] as string, "m"),
			),
		});
	}
	return examples;
}

const hasDocker =
	spawnSync("docker", ["version", "--format", "{{.Server.Version}}"], {
		encoding: "utf8",
	}).status === 0;

let work: string;
let project: string;
const tarballs = new Map<string, string>();
const figures: string[] = [];

function run(
	command: string,
	args: string[],
	cwd: string,
	env: Record<string, string> = {},
) {
	const result = spawnSync(command, args, {
		cwd,
		encoding: "utf8",
		env: {
			...process.env,
			ORT_DISABLE_TELEMETRY: "1",
			// onnxruntime-node's install script would download CUDA libraries: never needed here.
			ONNXRUNTIME_NODE_INSTALL: "skip",
			npm_config_fund: "false",
			npm_config_audit: "false",
			npm_config_update_notifier: "false",
			...env,
		},
		maxBuffer: 64 * 1024 * 1024,
	});
	if (result.status !== 0) {
		throw new Error(
			`${command} ${args.join(" ")} (in ${cwd}) exited ${result.status}\n${result.stdout}\n${result.stderr}`,
		);
	}
	return result;
}

beforeAll(async () => {
	work = await mkdtemp(join(tmpdir(), "mdp-packaging-"));
	const packs = join(work, "tarballs");
	await mkdir(packs);
	for (const p of packages) {
		run("pnpm", ["run", "build"], p.dir);
		const before = new Set(readdirSync(packs));
		run("pnpm", ["pack", "--pack-destination", packs], p.dir);
		const file = readdirSync(packs).find((f) => !before.has(f)) as string;
		tarballs.set(p.manifest.name, join(packs, file));
		figures.push(
			`${p.manifest.name}: tarball ${((await stat(join(packs, file))).size / 1024).toFixed(0)} KB`,
		);
	}
	project = join(work, "app");
	await mkdir(project);
	run("npm", ["init", "-y"], project);
	const started = performance.now();
	run("npm", ["install", ...tarballs.values()], project);
	figures.push(
		`npm install of ${tarballs.size} tarballs: ${((performance.now() - started) / 1000).toFixed(1)} s`,
	);
});

afterAll(async () => {
	// The image the container README's example builds.
	if (hasDocker)
		spawnSync("docker", ["image", "rm", "-f", "mdp-readme-example:1"], {
			stdio: "ignore",
		});
	if (figures.length) process.stderr.write(`${figures.join("\n")}\n`);
	if (work) await rm(work, { recursive: true, force: true });
});

describe.each(packages.map((p) => [p.manifest.name, p] as const))(
	"%s as a tarball",
	(name, p) => {
		it("passes publint: exports, bin, files and types point at what the tarball holds", async () => {
			const tarball = tarballs.get(name) as string;
			const { messages } = await publint({
				pack: { tarball: (await readFile(tarball)).buffer as ArrayBuffer },
				level: "error",
			});
			expect(messages).toEqual([]);
		});

		it("passes arethetypeswrong (ESM only): every entry's types resolve", () => {
			const attw = createRequire(import.meta.url).resolve(
				"@arethetypeswrong/cli/package.json",
			);
			const result = spawnSync(
				process.execPath,
				[
					join(attw, "..", "dist", "index.js"),
					tarballs.get(name) as string,
					"--profile",
					"esm-only",
					"--format",
					"json",
				],
				{ encoding: "utf8" },
			);
			// Grouped by kind; the ESM-only profile ignores what only CommonJS and node10 resolution see.
			const report = JSON.parse(result.stdout) as {
				problems?: Record<
					string,
					{ entrypoint: string; resolutionKind: string }[]
				>;
			};
			const problems = Object.values(report.problems ?? {})
				.flat()
				.filter((p) => !["node10", "node16-cjs"].includes(p.resolutionKind));
			expect(problems).toEqual([]);
			expect(result.status).toBe(0);
		});

		it("runs its README's examples verbatim in a plain npm project", async () => {
			const examples = readmeExamples(
				await readFile(join(p.dir, "README.md"), "utf8"),
			);
			expect(examples.length).toBeGreaterThan(0);
			for (const [i, example] of examples.entries()) {
				if (example.needsDocker && !runsWith("a Docker engine", hasDocker))
					continue;
				const file = join(
					project,
					`${name.replace("@mdp/", "")}-example-${i}.${example.lang === "js" ? "mjs" : "sh"}`,
				);
				await writeFile(file, example.code);
				const { stdout } =
					example.lang === "js"
						? run(process.execPath, [file], project)
						: run("bash", ["-eo", "pipefail", file], project);
				for (const pattern of example.expect) expect(stdout).toMatch(pattern);
			}
		});
	},
);

describe("a user's own model", () => {
	it("makes a bundle with mdp-core synth and ships it in a single executable with mdp-static, reproducing its golden set", async () => {
		run(
			"npx",
			["mdp-core", "synth", "--out", "my-model", "--size", "1MB"],
			project,
		);
		run(
			"npx",
			["mdp-static", "build", "--bundle", "my-model", "--out", "my-predictor"],
			project,
		);
		const golden = (
			await readFile(join(project, "my-model", "golden.jsonl"), "utf8")
		)
			.trim()
			.split("\n")
			.map((l) => JSON.parse(l) as { record: unknown; expected: unknown });
		const { stdout } = spawnSync(join(project, "my-predictor"), [], {
			input: golden.map((g) => JSON.stringify(g.record)).join("\n"),
			encoding: "utf8",
			env: { PATH: "/usr/bin:/bin", MDP_CACHE_DIR: join(work, "cache") },
		});
		expect(
			stdout
				.trim()
				.split("\n")
				.map((l) => JSON.parse(l)),
		).toEqual(golden.map((g) => g.expected));
	});
});
