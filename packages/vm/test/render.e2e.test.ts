import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
	compareToGolden,
	type GoldenCase,
	type Prediction,
	readGoldenSet,
	referenceBundleDir,
} from "@mdp/core";
import { findHaproxy } from "@mdp/core/balancer";
import { spawnUntilReady } from "@mdp/core/process";
import { runsWith } from "@mdp/core/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderCloud } from "../src/render.ts";

let dir: string;
let golden: GoldenCase[];
const outs: Record<"gce" | "aws", string> = { gce: "", aws: "" };
beforeAll(async () => {
	dir = await mkdtemp(join(tmpdir(), "mdp-vm-render-"));
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
	for (const target of ["gce", "aws"] as const) {
		outs[target] = join(dir, target);
		await renderCloud({
			bundle: referenceBundleDir,
			out: outs[target],
			target,
			replicas: 2,
			min: 2,
			max: 5,
			targetInFlight: 6,
			instanceSize: "1cpu-512mb",
		});
	}
}, 180_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

const hasSystemdAnalyze =
	spawnSync("systemd-analyze", ["--version"]).status === 0;

/** Every `${…}` expression of a Terraform JSON document, with the path where it sits. */
function expressions(value: unknown, path = ""): [string, string][] {
	if (typeof value === "string") {
		const found: [string, string][] = [];
		// Outermost ${…}, nesting included.
		for (let i = value.indexOf("${"); i >= 0; i = value.indexOf("${", i + 1)) {
			let depth = 0;
			for (let j = i; j < value.length; j++) {
				if (value[j] === "{") depth++;
				if (value[j] === "}" && --depth === 0) {
					found.push([path, value.slice(i + 2, j)]);
					i = j;
					break;
				}
			}
		}
		return found;
	}
	if (Array.isArray(value))
		return value.flatMap((v, i) => expressions(v, `${path}[${i}]`));
	if (value && typeof value === "object")
		return Object.entries(value).flatMap(([k, v]) =>
			expressions(v, `${path}.${k}`),
		);
	return [];
}

describe.each(["gce", "aws"] as const)("render --target %s", (target) => {
	it("writes Terraform JSON whose every reference points to something it defines", async () => {
		const doc = JSON.parse(
			await readFile(join(outs[target], "main.tf.json"), "utf8"),
		) as {
			variable: Record<string, unknown>;
			resource: Record<string, Record<string, unknown>>;
		};
		const refs = expressions(doc.resource).concat(
			expressions((doc as { output?: unknown }).output),
		);
		expect(refs.length).toBeGreaterThan(10);
		const problems: string[] = [];
		for (const [where, expression] of refs) {
			// String literals (file names, placeholders) are not references; the ${…} inside them are.
			const inner: string[] = [];
			const code = expression.replace(/"(?:[^"\\]|\\.)*"/g, (literal) => {
				for (const m of literal.matchAll(/\$\{([^}]*)\}/g))
					inner.push(m[1] as string);
				return '""';
			});
			for (const part of [code, ...inner])
				for (const [, head, name] of part.matchAll(
					/(?<![\w.])([a-z_][a-z0-9_]*)\.([a-z0-9_]+)/g,
				)) {
					if (head === "var" && !((name as string) in doc.variable))
						problems.push(`${where}: var.${name} is not a variable`);
					else if (head === "path" && name !== "module")
						problems.push(`${where}: path.${name}`);
					else if (
						head !== "var" &&
						head !== "path" &&
						!doc.resource[head as string]?.[name as string]
					)
						problems.push(`${where}: ${head}.${name} is not a resource`);
				}
			for (const [, file] of expression.matchAll(
				/file\("\$\{path\.module\}\/([^"]+)"\)/g,
			))
				expect(
					spawnSync("test", ["-f", join(outs[target], file as string)]).status,
					`${where}: ${file}`,
				).toBe(0);
		}
		expect(problems).toEqual([]);
		const kinds = Object.keys(doc.resource);
		if (target === "gce")
			expect(kinds).toEqual(
				expect.arrayContaining([
					"google_compute_instance_template",
					"google_compute_region_instance_group_manager",
					"google_compute_region_autoscaler",
					"google_compute_health_check",
					"google_compute_backend_service",
				]),
			);
		else
			expect(kinds).toEqual(
				expect.arrayContaining([
					"aws_launch_template",
					"aws_autoscaling_group",
					"aws_autoscaling_policy",
					"aws_lb",
					"aws_lb_target_group",
				]),
			);
		expect(JSON.stringify(doc)).toContain("/v2/health/ready");
		expect(JSON.stringify(doc)).toContain("mdp_http_requests_in_flight");
	});

	it("writes cloud-init user data: valid YAML with the expected modules, the unit inside", async () => {
		const text = await readFile(join(outs[target], "cloud-init.yaml"), "utf8");
		expect(text.startsWith("#cloud-config\n")).toBe(true);
		const doc = parse(text) as {
			packages: string[];
			write_files: { path: string; content: string }[];
			runcmd: string[][];
		};
		expect(Object.keys(doc)).toEqual(
			expect.arrayContaining(["packages", "write_files", "runcmd"]),
		);
		const unit = doc.write_files.find((f) =>
			f.path.endsWith("mdp-serve.service"),
		);
		expect(unit?.content).toBe(
			await readFile(join(outs[target], "mdp-serve.service"), "utf8"),
		);
		expect(doc.runcmd.at(-1)).toEqual([
			"systemctl",
			"enable",
			"--now",
			"mdp-serve.service",
		]);
	});

	it.runIf(runsWith("systemd-analyze", hasSystemdAnalyze))(
		"writes a hardened systemd unit that passes systemd-analyze verify",
		async () => {
			const path = join(outs[target], "mdp-serve.service");
			const unit = await readFile(path, "utf8");
			for (const line of [
				"DynamicUser=yes",
				"NoNewPrivileges=yes",
				"ProtectSystem=strict",
				"Restart=always",
				"MemoryMax=536870912",
				"CPUQuota=100%",
			])
				expect(unit).toContain(line);
			const verify = spawnSync("systemd-analyze", ["verify", path], {
				encoding: "utf8",
			});
			expect(verify.status, verify.stderr).toBe(0);
			expect(verify.stderr).not.toMatch(/mdp-serve\.service:/);
		},
	);

	it.runIf(runsWith("haproxy", findHaproxy() !== undefined))(
		"writes an HAProxy config that passes haproxy -c",
		() => {
			const check = spawnSync(
				findHaproxy() ?? "haproxy",
				["-c", "-f", join(outs[target], "haproxy.cfg")],
				{ encoding: "utf8" },
			);
			expect(check.status, check.stderr + check.stdout).toBe(0);
		},
	);
});

describe("the rendered install and start scripts", () => {
	it("install the artifact (sha256 checked) and serve the golden set, paths redirected to a temp dir", async () => {
		const out = outs.gce;
		const prefix = join(dir, "vm-root", "opt", "mdp");
		const env = {
			PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
			HOME: dir,
			MDP_PREFIX: prefix,
		};
		// The script as cloud-init writes it.
		const cloudInit = parse(
			await readFile(join(out, "cloud-init.yaml"), "utf8"),
		) as { write_files: { path: string; content: string }[] };
		const install = cloudInit.write_files.find(
			(f) => f.path === "/usr/local/sbin/mdp-install",
		)?.content as string;
		const tampered = spawnSync("sh", ["-c", install], {
			env: {
				...env,
				MDP_ARTIFACT: join(out, "mdp-install.sh"), // not the artifact: its hash differs
			},
			encoding: "utf8",
		});
		expect(tampered.status).not.toBe(0);
		const installed = spawnSync("sh", ["-c", install], {
			env: { ...env, MDP_ARTIFACT: join(out, "mdp-server.tar.gz") },
			encoding: "utf8",
		});
		expect(installed.status, installed.stderr).toBe(0);
		const port = await freePort();
		const server = await spawnUntilReady({
			command: ["sh", join(prefix, "bin", "mdp-start")],
			env: { ...env, MDP_HOST: "127.0.0.1", MDP_PORT: String(port) },
			url: `http://127.0.0.1:${port}`,
			timeoutMs: 60_000,
		});
		try {
			const res = await fetch(`${server.url}/predict`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ records: golden.map((g) => g.record) }),
			});
			const body = (await res.json()) as { predictions: Prediction[] };
			expect(compareToGolden(golden, body.predictions)).toEqual([]);
		} finally {
			await server.stop();
		}
	});
});

async function freePort(): Promise<number> {
	const s = createServer();
	await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
	const address = s.address();
	await new Promise((r) => s.close(r));
	return typeof address === "object" && address ? address.port : 0;
}
