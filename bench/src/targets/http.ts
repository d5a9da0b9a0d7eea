import { join } from "node:path";
import type { Artifact } from "@mdp/core";
import { buildServer, folderBytes } from "@mdp/core/build";
import { type ServeProcess, startServeProcess } from "@mdp/core/http";
import { startServeDeployment } from "@mdp/core/process";
import { checkReachableOffline } from "../measure/offline.ts";
import {
	type BenchTarget,
	type ColdStart,
	fromDeployment,
	type TargetContext,
} from "../types.ts";
import { firstRequestBody } from "./first-request.ts";
import { medianColdStart } from "./static.ts";

const servers = new Map<string, Promise<Artifact>>();

/**
 * The deployable server (`buildServer`): the serving runtime bundled into one module with onnxruntime-node
 * installed beside it pruned to linux-x64. Built once per run, shared by the http target and the HTTP
 * ceiling so both start the same code.
 */
export function serverBundle(ctx: TargetContext): Promise<Artifact> {
	let built = servers.get(ctx.workDir);
	if (!built) {
		ctx.progress("building the server bundle (esbuild, pruned onnxruntime)");
		built = buildServer({ out: join(ctx.workDir, "server") });
		servers.set(ctx.workDir, built);
	}
	return built;
}

/** Starts the bundled `mdp-core serve` on the server core; `extraArgs` such as `--bare` for the HTTP ceiling. */
export async function serve(
	ctx: TargetContext,
	extraArgs: string[],
): Promise<ServeProcess> {
	const server = await serverBundle(ctx);
	return startServeProcess({
		entry: join(server.path, "mdp-serve.mjs"),
		wrapper: ctx.serverWrapper,
		args: ["--bundle", ctx.bundle, ...extraArgs],
	});
}

/**
 * One `mdp-core serve` process, from the bundled server (`buildServer`): the HTTP app with a full replica of
 * the ML system, the unit the vm, container and serverless patterns replicate. Adaptive batching on (the
 * server's default). Its artifacts are the server bundle (plus onnxruntime-node, ~45 MB on linux-x64,
 * installed beside it) and the model bundle.
 */
export function createHttpTarget(options: {
	coldStartRuns: number;
}): BenchTarget {
	return {
		id: "http",
		pattern: "http",
		title: "http: one mdp-core serve process",
		async build(ctx) {
			return [
				await serverBundle(ctx),
				{
					kind: "model-bundle",
					path: ctx.bundle,
					bytes: await folderBytes(ctx.bundle),
				},
			];
		},
		async deploy(ctx) {
			const server = await serverBundle(ctx);
			return fromDeployment(
				await startServeDeployment({
					bundle: ctx.bundle,
					entry: join(server.path, "mdp-serve.mjs"),
					wrapper: ctx.serverWrapper,
				}),
			);
		},
		async coldStart(ctx) {
			const runs: ColdStart[] = [];
			for (let i = 0; i < options.coldStartRuns; i++) {
				const started = performance.now();
				const server = await serve(ctx, []);
				const listening = performance.now() - started;
				const res = await fetch(`${server.url}/predict`, {
					method: "POST",
					body: await firstRequestBody(ctx.bundle),
					headers: { "content-type": "application/json" },
				});
				await res.text();
				const total = performance.now() - started;
				runs.push({
					total_ms: total,
					phases: {
						process_to_listening: listening,
						first_prediction: total - listening,
					},
				});
				await server.stop();
			}
			return medianColdStart(runs);
		},
		async offline(ctx) {
			const server = await serve(ctx, []);
			try {
				return checkReachableOffline(server.url);
			} finally {
				await server.stop();
			}
		},
	};
}
