import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { which } from "./offline.ts";

let ticksPerSecond: number | undefined;
function clockTicks(): number {
	ticksPerSecond ??=
		Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) ||
		100;
	return ticksPerSecond;
}

/** CPU seconds (user + system) used so far by these processes (all their threads), from /proc. */
export function cpuSeconds(pids: readonly number[]): number {
	let ticks = 0;
	for (const pid of pids) {
		try {
			// The command name may contain spaces: fields start after the closing parenthesis.
			const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
			const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
			ticks += Number(fields[11]) + Number(fields[12]);
		} catch {
			// Gone: its time is lost, as with any sampling of /proc.
		}
	}
	return ticks / clockTicks();
}

/** Peak resident memory (VmHWM) summed over these processes, in MB. */
export function peakRssMb(pids: readonly number[]): number {
	let kb = 0;
	for (const pid of pids) {
		try {
			const match = /VmHWM:\s+(\d+) kB/.exec(
				readFileSync(`/proc/${pid}/status`, "utf8"),
			);
			kb += Number(match?.[1] ?? 0);
		} catch {
			// Gone.
		}
	}
	return kb / 1024;
}

/** A reading of the machine-wide CPU counters, for steal time over an interval. */
export interface CpuCounters {
	total: number;
	steal: number;
}

export function readCpuCounters(): CpuCounters {
	const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
	const values = line.trim().split(/\s+/).slice(1).map(Number);
	return { total: values.reduce((a, b) => a + b, 0), steal: values[7] ?? 0 };
}

/** Steal time between two readings, as % of all CPU time. */
export function stealPercent(before: CpuCounters, after: CpuCounters): number {
	const total = after.total - before.total;
	return total > 0 ? (100 * (after.steal - before.steal)) / total : 0;
}

/** CPU model, cores, memory and kernel of this machine. */
export function describeMachine() {
	const list = cpus();
	return {
		cpu: list[0]?.model ?? "unknown",
		cores: list.length,
		memory_gb: Math.round(totalmem() / 2 ** 30),
		kernel: release(),
	};
}

/**
 * Pins this process (the driver) to core 1 and the servers to core 0, where there are two cores.
 *
 * @example
 * const { serverWrapper } = pinDriver(2); // ["/usr/bin/taskset", "-c", "0"]
 */
export function pinDriver(cores: number): {
	serverWrapper: string[];
	description: string;
} {
	const taskset = which("taskset");
	if (!taskset || cores < 2)
		return {
			serverWrapper: [],
			description: "not pinned (taskset missing or one core)",
		};
	spawnSync(taskset, ["-a", "-p", "-c", "1", String(process.pid)]);
	return {
		serverWrapper: [taskset, "-c", "0"],
		description:
			"targets (servers, balancers) on core 0, driver and in-process targets on core 1 (taskset)",
	};
}
