import { spawnSync } from "node:child_process";
import { mkdir, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Artifact } from "@mdp/core";
import { buildServer } from "@mdp/core/build";
import type { BenchTarget, TargetContext } from "../types.ts";
import { freePort, startCliDeployment } from "./cli-deployment.ts";
import { createDeploymentTarget } from "./deployment.ts";

const require = createRequire(import.meta.url);

/** The CLI of a workspace pattern package (`bin/mdp-<name>.js`), run with this Node. */
function cli(pkg: string, bin: string): string[] {
	return [
		process.execPath,
		join(dirname(require.resolve(`${pkg}/package.json`)), "bin", bin),
	];
}

const once = <T>(make: (ctx: TargetContext) => Promise<T>) => {
	const built = new Map<string, Promise<T>>();
	return (ctx: TargetContext) => {
		let value = built.get(ctx.workDir);
		if (!value) {
			value = make(ctx);
			built.set(ctx.workDir, value);
		}
		return value;
	};
};

/** Replicas of the fleet patterns: both cores' worth on these 2-core machines would only add contention. */
export const FLEET_REPLICAS = 2;

/**
 * vm: `mdp-vm up` with 2 process-isolated instances (no hypervisor) behind the embedded balancer, the
 * whole process tree on the server core; the instances run the prebuilt server.
 */
export function createVmTarget(options: {
	coldStartRuns: number;
}): BenchTarget {
	const server = once(async (ctx) => {
		ctx.progress("vm: building the instance server");
		return buildServer({
			out: join(ctx.workDir, "vm-server"),
			bundle: ctx.bundle,
		});
	});
	return createDeploymentTarget({
		id: "vm",
		title: `vm: ${FLEET_REPLICAS} process-isolated instances (no hypervisor) behind the embedded balancer`,
		coldStartRuns: options.coldStartRuns,
		build: async (ctx) => [await server(ctx)],
		async start(ctx) {
			const artifact = await server(ctx);
			const port = await freePort();
			const state = join(ctx.workDir, `vm-state-${port}.json`);
			return startCliDeployment({
				pattern: "vm",
				wrapper: ctx.serverWrapper,
				command: [
					...cli("@mdp/vm", "mdp-vm.js"),
					"up",
					"--bundle",
					ctx.bundle,
					"--replicas",
					String(FLEET_REPLICAS),
					"--port",
					String(port),
					"--artifact",
					artifact.path,
					"--state",
					state,
					"--log",
					join(ctx.workDir, `vm-${port}.log`),
				],
				url: `http://127.0.0.1:${port}`,
			});
		},
	});
}

/**
 * serverless: the AWS Lambda zip on the local function platform (`mdp-serverless serve`), AWS's runtime
 * interface client in every instance, concurrency 10, the platform and its instances on the server core.
 */
export function createServerlessTarget(options: {
	coldStartRuns: number;
}): BenchTarget {
	const zip = once(async (ctx): Promise<Artifact> => {
		ctx.progress("serverless: packaging the AWS Lambda zip");
		const out = join(ctx.workDir, "serverless", "function-aws.zip");
		await mkdir(dirname(out), { recursive: true });
		const run = spawnSync(
			cli("@mdp/serverless", "mdp-serverless.js")[0] as string,
			[
				...cli("@mdp/serverless", "mdp-serverless.js").slice(1),
				"package",
				"--bundle",
				ctx.bundle,
				"--provider",
				"aws",
				"--out",
				out,
			],
			{ encoding: "utf8", env: { ...process.env, ORT_DISABLE_TELEMETRY: "1" } },
		);
		if (run.status !== 0)
			throw new Error(
				`serverless package failed: ${run.stderr.trim().split("\n").slice(-3).join(" ")}`,
			);
		return { kind: "zip (aws)", path: out, bytes: (await stat(out)).size };
	});
	return createDeploymentTarget({
		id: "serverless",
		title:
			"serverless: AWS Lambda zip on the local function platform (aws-lambda-ric, concurrency 10)",
		coldStartRuns: options.coldStartRuns,
		build: async (ctx) => [await zip(ctx)],
		async start(ctx) {
			const artifact = await zip(ctx);
			const port = await freePort();
			return startCliDeployment({
				pattern: "serverless",
				wrapper: ctx.serverWrapper,
				command: [
					...cli("@mdp/serverless", "mdp-serverless.js"),
					"serve",
					"--zip",
					artifact.path,
					"--provider",
					"aws",
					"--concurrency",
					"10",
					"--port",
					String(port),
					"--report",
					join(ctx.workDir, `serverless-report-${port}.jsonl`),
				],
				url: `http://127.0.0.1:${port}`,
				// The gateway is ready before any instance exists: readiness of the function is its first answer.
				readyPath: "/v2/health/live",
			});
		},
	});
}
