import { spawnSync } from "node:child_process";
import type { OfflineResult } from "../types.ts";

/** Absolute path of a tool, if installed. */
export function which(tool: string): string | undefined {
	return (
		spawnSync("sh", ["-c", `command -v ${tool}`], {
			encoding: "utf8",
		}).stdout.trim() || undefined
	);
}

/** What an offline check reports when it cannot cut the network here: not a "no", an unknown. */
export const OFFLINE_NOT_MEASURED: OfflineResult = {
	works: null,
	method: "not measured: unshare -n is not available here",
};

/** `unshare` when it can run a command in a fresh network namespace (no interfaces but a down loopback). */
export function networkCutter(): string | undefined {
	const unshare = which("unshare");
	return unshare && spawnSync(unshare, ["-n", "true"]).status === 0
		? unshare
		: undefined;
}

/**
 * The offline check of a networked deployment: a client in its own network namespace (`unshare -n`, the
 * network cut) calls the service's readiness endpoint. It cannot reach it, which is the measured answer
 * "does not work offline"; `null` (not measured) where the namespace cannot be made here.
 */
export function checkReachableOffline(url: string): OfflineResult {
	const unshare = networkCutter();
	if (!unshare) return OFFLINE_NOT_MEASURED;
	const client = spawnSync(
		unshare,
		[
			"-n",
			process.execPath,
			"-e",
			`fetch(${JSON.stringify(new URL("/v2/health/ready", url).href)}).then(() => process.exit(0), () => process.exit(3))`,
		],
		{ encoding: "utf8", timeout: 20_000 },
	);
	return {
		works: client.status === 0,
		method:
			"a client in its own network namespace (unshare -n) calls the service: it cannot reach it",
	};
}
