import { readdirSync, readFileSync } from "node:fs";
import type { Deployment, DeploymentUnit } from "@mdp/core";
import { spawnUntilReady } from "@mdp/core/process";

/** Every process whose parent chain leads to `pid` (its children, their children, …), from /proc. */
export function descendants(pid: number): number[] {
	const parents = new Map<number, number[]>();
	for (const entry of readdirSync("/proc")) {
		const child = Number(entry);
		if (!Number.isInteger(child)) continue;
		try {
			const stat = readFileSync(`/proc/${child}/stat`, "utf8");
			const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
			parents.set(ppid, [...(parents.get(ppid) ?? []), child]);
		} catch {
			// Gone between the listing and the read.
		}
	}
	const out: number[] = [];
	const queue = [pid];
	while (queue.length) {
		const next = queue.shift() as number;
		for (const child of parents.get(next) ?? []) {
			out.push(child);
			queue.push(child);
		}
	}
	return out;
}

/**
 * A pattern run the way a user runs it, through its CLI (`mdp-vm up`, `mdp-serverless serve`, …) as one
 * process tree: `wrapper` (the harness's `taskset -c 0`) pins the CLI, and with it every process it starts
 * (balancer, instances, function instances), to the server core, so every pattern gets the same CPU
 * budget. Ready when `url`'s readiness endpoint answers; its units are the CLI and all its descendants;
 * `stop` is SIGTERM to the CLI, which drains and stops what it started.
 */
export async function startCliDeployment(options: {
	pattern: string;
	command: readonly string[];
	wrapper: readonly string[];
	url: string;
	readyPath?: string;
	env?: Record<string, string>;
	timeoutMs?: number;
	/** Units that are not processes of the tree (containers on an engine). */
	extraUnits?: () => DeploymentUnit[];
}): Promise<Deployment> {
	const cli = await spawnUntilReady({
		command: [...options.wrapper, ...options.command],
		url: options.url,
		readyPath: options.readyPath,
		env: options.env,
		timeoutMs: options.timeoutMs ?? 120_000,
	});
	let stopped: Promise<void> | undefined;
	return {
		pattern: options.pattern,
		url: options.url,
		units: () => [
			{ role: "cli", id: "cli", pid: cli.pid },
			...descendants(cli.pid).map((pid) => ({
				role: "process",
				id: `pid-${pid}`,
				pid,
			})),
			...(options.extraUnits?.() ?? []),
		],
		stop() {
			stopped ??= cli.stop(30_000).then(() => undefined);
			return stopped;
		},
	};
}
