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
