import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CoreError } from "@mdp/core";

/** CPU and memory of one instance, like a VM machine type. */
export interface InstanceSize {
	/** CPUs (fractions allowed: 0.5 is half a core). */
	cpus: number;
	memoryBytes: number;
}

const SIZE = /^(\d+(?:\.\d+)?)cpu-(\d+)(mb|gb)$/i;

/**
 * Parses an instance size such as `1cpu-512mb`, `0.5cpu-256mb` or `2cpu-1gb`.
 *
 * @example
 * parseInstanceSize("1cpu-512mb"); // { cpus: 1, memoryBytes: 536870912 }
 */
export function parseInstanceSize(text: string): InstanceSize {
	const match = SIZE.exec(text.trim());
	const cpus = Number(match?.[1]);
	const amount = Number(match?.[2]);
	if (!match || !(cpus > 0) || !(amount > 0))
		throw new CoreError(
			"INVALID_ARGUMENT",
			`--instance-size must look like 1cpu-512mb (CPUs, then memory in mb or gb), got "${text}"`,
		);
	const unit =
		(match[3] as string).toLowerCase() === "gb" ? 1024 ** 3 : 1024 ** 2;
	return { cpus, memoryBytes: amount * unit };
}

/** Where cgroups can be written on this machine, and which version. */
export interface CgroupSupport {
	version: 1 | 2;
	/** v1: the memory and cpu hierarchy folders to create groups in; v2: the one folder. */
	memoryDir: string;
	cpuDir: string;
}

/** One instance's cgroup: the command prefix that puts the process in it, and its removal. */
export interface InstanceCgroup {
	/** Files the process writes its PID to before it execs the server. */
	procsFiles: string[];
	/** Command prefix: `sh -c 'echo $$ > … && exec "$@"'`, so the server starts inside the group. */
	wrapper: string[];
	/** Memory usage and limit now (bytes). */
	memory(): Promise<{ usageBytes: number; limitBytes: number }>;
	/** Removes the group once its process is gone (safe to call more than once). */
	remove(): Promise<void>;
}

/** Our own cgroup path in a v1 hierarchy (e.g. `memory`), or the v2 one (`""`), from /proc/self/cgroup. */
function ownPath(controller: string): string {
	const lines = readFileSync("/proc/self/cgroup", "utf8").trim().split("\n");
	for (const line of lines) {
		const [, controllers, path] = line.split(":");
		if (controllers?.split(",").includes(controller)) return path ?? "/";
		if (controller === "" && controllers === "") return path ?? "/";
	}
	return "/";
}

/**
 * Finds writable cgroups: v1 with the memory and cpu controllers, or v2 with both enabled for children.
 * Groups are created under this process's own group, so the fleet stays inside whatever contains us.
 * Returns the reason when there is none (not root, read-only, controllers missing).
 *
 * @example
 * const support = detectCgroups();
 * if (!("version" in support)) console.warn(`running without limits: ${support.unavailable}`);
 */
export function detectCgroups(
	root = "/sys/fs/cgroup",
): CgroupSupport | { unavailable: string } {
	try {
		if (existsSync(join(root, "cgroup.controllers"))) {
			const dir = join(root, ownPath(""));
			const enabled = readFileSync(join(dir, "cgroup.subtree_control"), "utf8");
			if (!/\bmemory\b/.test(enabled) || !/\bcpu\b/.test(enabled))
				return {
					unavailable: `cgroup v2 at ${dir} does not delegate the memory and cpu controllers`,
				};
			return { version: 2, memoryDir: dir, cpuDir: dir };
		}
		const memoryDir = join(root, "memory", ownPath("memory"));
		const cpuDir = join(root, "cpu", ownPath("cpu"));
		for (const [dir, file] of [
			[memoryDir, "memory.limit_in_bytes"],
			[cpuDir, "cpu.cfs_quota_us"],
		] as const) {
			if (!existsSync(join(dir, file)))
				return { unavailable: `no cgroup v1 controller at ${dir}` };
		}
		if (process.getuid?.() !== 0)
			return { unavailable: "cgroups need root here" };
		return { version: 1, memoryDir, cpuDir };
	} catch (error) {
		return { unavailable: (error as Error).message };
	}
}

/**
 * Creates the cgroup of one instance with the size's limits: memory (the kernel's OOM killer ends the
 * instance beyond it, and the fleet replaces it) and CPU (a CFS quota per 100 ms period).
 *
 * @example
 * const support = detectCgroups();
 * if ("version" in support) {
 *   const group = await createInstanceCgroup(support, "mdp-vm-1-vm-3", parseInstanceSize("1cpu-512mb"));
 *   // spawn [...group.wrapper, "node", "mdp-serve.mjs", …]; later: await group.remove();
 * }
 */
export async function createInstanceCgroup(
	support: CgroupSupport,
	name: string,
	size: InstanceSize,
): Promise<InstanceCgroup> {
	const period = 100_000;
	const quota = Math.max(1000, Math.round(size.cpus * period));
	const memoryGroup = join(support.memoryDir, name);
	const cpuGroup = join(support.cpuDir, name);
	const groups =
		support.version === 2 ? [memoryGroup] : [memoryGroup, cpuGroup];
	for (const dir of groups) await mkdir(dir, { recursive: true });
	let usageFile: string;
	let limitFile: string;
	if (support.version === 2) {
		await writeFile(join(memoryGroup, "memory.max"), String(size.memoryBytes));
		await writeFile(join(memoryGroup, "memory.swap.max"), "0").catch(
			() => undefined,
		);
		await writeFile(join(memoryGroup, "cpu.max"), `${quota} ${period}`);
		usageFile = join(memoryGroup, "memory.current");
		limitFile = join(memoryGroup, "memory.max");
	} else {
		await writeFile(
			join(memoryGroup, "memory.limit_in_bytes"),
			String(size.memoryBytes),
		);
		// Without swap accounting off, the limit would push pages to swap instead of ending the process.
		await writeFile(
			join(memoryGroup, "memory.memsw.limit_in_bytes"),
			String(size.memoryBytes),
		).catch(() => undefined);
		await writeFile(join(cpuGroup, "cpu.cfs_period_us"), String(period));
		await writeFile(join(cpuGroup, "cpu.cfs_quota_us"), String(quota));
		usageFile = join(memoryGroup, "memory.usage_in_bytes");
		limitFile = join(memoryGroup, "memory.limit_in_bytes");
	}
	const procsFiles = groups.map((dir) => join(dir, "cgroup.procs"));
	let removed: Promise<void> | undefined;
	const script = `${procsFiles.map((_, i) => `echo $$ > "$${i + 1}"`).join(" && ")} && shift ${procsFiles.length} && exec "$@"`;
	return {
		procsFiles,
		wrapper: ["sh", "-c", script, "mdp-vm-cgroup", ...procsFiles],
		async memory() {
			const usage = Number((await readFile(usageFile, "utf8")).trim());
			const limit = (await readFile(limitFile, "utf8")).trim();
			return {
				usageBytes: usage,
				limitBytes: limit === "max" ? Number.POSITIVE_INFINITY : Number(limit),
			};
		},
		remove() {
			removed ??= removeGroups();
			return removed;
		},
	};

	async function removeGroups(): Promise<void> {
		// A group can only be removed once empty: wait briefly for the killed process to be reaped.
		for (const dir of groups) {
			for (let i = 0; i < 50; i++) {
				try {
					await rmdir(dir);
					break;
				} catch {
					await new Promise((r) => setTimeout(r, 20));
				}
			}
		}
	}
}
