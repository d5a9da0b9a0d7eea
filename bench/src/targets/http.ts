import { spawnSync } from "node:child_process";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { type ServeProcess, startServeProcess } from "@mdp/core/http";
import { networkCutter, OFFLINE_NOT_MEASURED } from "../measure/offline.ts";
import type { BenchTarget, ColdStart, TargetContext } from "../types.ts";
import { medianColdStart } from "./static.ts";

const FIRST = {
	records: [
		{
			Island: "Biscoe",
			"Beak Length (mm)": 47.3,
			"Beak Depth (mm)": 13.8,
			"Flipper Length (mm)": 216,
			"Body Mass (g)": 4725,
			Sex: "FEMALE",
		},
	],
};

/** Starts `mdp-core serve` on the server core; `extraArgs` such as `--bare` for the HTTP ceiling. */
export function serve(
	ctx: TargetContext,
	extraArgs: string[],
): Promise<ServeProcess> {
	return startServeProcess({
		wrapper: ctx.serverWrapper,
		args: ["--bundle", ctx.bundle, ...extraArgs],
	});
}

async function folderBytes(dir: string): Promise<number> {
	let total = 0;
	for (const f of await readdir(dir)) total += (await stat(join(dir, f))).size;
	return total;
}

/**
 * One `mdp-core serve` process: the HTTP app with a full replica of the ML system, the unit the vm,
 * container and serverless patterns replicate. Adaptive batching on (the server's default).
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
				{
					kind: "model-bundle",
					path: ctx.bundle,
					bytes: await folderBytes(ctx.bundle),
				},
			];
		},
		async deploy(ctx) {
			const server = await serve(ctx, []);
			return {
				endpoint: { kind: "http", url: server.url },
				pids: () => [server.pid],
				teardown: async () => void (await server.stop()),
			};
		},
		async coldStart(ctx) {
			const runs: ColdStart[] = [];
			for (let i = 0; i < options.coldStartRuns; i++) {
				const started = performance.now();
				const server = await serve(ctx, []);
				const listening = performance.now() - started;
				const res = await fetch(`${server.url}/predict`, {
					method: "POST",
					body: JSON.stringify(FIRST),
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
			const unshare = networkCutter();
			if (!unshare) return OFFLINE_NOT_MEASURED;
			const server = await serve(ctx, []);
			try {
				// A client with the network gone (its own empty network namespace) cannot reach the service.
				const client = spawnSync(
					unshare,
					[
						"-n",
						process.execPath,
						"-e",
						`fetch(${JSON.stringify(`${server.url}/v2/health/ready`)}).then(() => process.exit(0), () => process.exit(3))`,
					],
					{
						encoding: "utf8",
						timeout: 20_000,
					},
				);
				return {
					works: client.status === 0,
					method:
						"a client in its own network namespace (unshare -n) calls the service: it cannot reach it",
				};
			} finally {
				await server.stop();
			}
		},
	};
}

/** A pattern whose package is not built yet: it appears in the results as not measured. */
export function createPendingTarget(
	id: "vm" | "container" | "serverless",
): BenchTarget {
	const fail = () => Promise.reject(new Error(`${id}: package not built yet`));
	return {
		id,
		pattern: id,
		title: `${id}`,
		unavailable: "package not built yet",
		build: fail,
		deploy: fail,
		coldStart: fail,
		offline: fail,
	};
}
