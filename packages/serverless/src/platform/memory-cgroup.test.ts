import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryCgroup, PeakRss } from "./memory-cgroup.ts";

const cgroups = MemoryCgroup.available();
const children: ChildProcess[] = [];
const groups: MemoryCgroup[] = [];

afterEach(async () => {
	for (const child of children.splice(0))
		if (child.exitCode === null && child.signalCode === null) {
			child.kill("SIGKILL");
			await new Promise((r) => child.once("close", r));
		}
	for (const group of groups.splice(0)) await group.remove();
});

/**
 * A Node child that says "ok" once started, then holds 48 MB more of touched memory for each line it reads
 * on stdin and says "ok" again.
 */
function hog(wrap: (argv: string[]) => string[] = (argv) => argv) {
	const script =
		"const kept=[];process.stdin.on('data',()=>{kept.push(Buffer.alloc(48*2**20,1));process.stdout.write('ok\\n')});process.stdout.write('ok\\n')";
	const [program, ...args] = wrap([process.execPath, "-e", script]);
	const child = spawn(program as string, args, {
		stdio: ["pipe", "pipe", "inherit"],
	});
	children.push(child);
	let seen = 0;
	let used = 0;
	let wake: (() => void) | undefined;
	child.stdout?.setEncoding("utf8");
	child.stdout?.on("data", (chunk: string) => {
		seen += chunk.split("ok").length - 1;
		wake?.();
	});
	const ok = async () => {
		while (seen <= used) await new Promise<void>((r) => (wake = r));
		used++;
	};
	return {
		child,
		started: ok,
		grow: async () => {
			child.stdin?.write("\n");
			await ok();
		},
	};
}

describe("process and cgroup memory peaks", () => {
	it("reads a process's peak RSS again on every call, and nothing once it is gone", async () => {
		const { child, started, grow } = hog();
		await started();
		const peak = new PeakRss(child.pid);
		const before = peak.bytes() ?? 0;
		expect(before).toBeGreaterThan(10 * 2 ** 20);
		await grow();
		const after = peak.bytes() ?? 0;
		expect(after - before).toBeGreaterThanOrEqual(40 * 2 ** 20);
		child.kill("SIGKILL");
		await new Promise((r) => child.once("close", r));
		expect(peak.bytes()).toBeUndefined();
		peak.close();
	});

	it.skipIf(!cgroups && process.env.CI !== "true")(
		"runs a wrapped command inside the cgroup from its start, and reads the cgroup's peak again on every call",
		async () => {
			const group = MemoryCgroup.create(
				`mdp-test-${process.pid}-${Date.now()}`,
				512 * 2 ** 20,
			) as MemoryCgroup;
			expect(group).toBeDefined();
			groups.push(group);
			const { child, started, grow } = hog((argv) => group.wrap(argv));
			await started();
			const membership = await readFile(`/proc/${child.pid}/cgroup`, "utf8");
			expect(membership).toContain(
				`memory:${group.dir.replace("/sys/fs/cgroup/memory", "")}`,
			);
			const before = group.maxUsageBytes() ?? 0;
			expect(before).toBeGreaterThan(0);
			await grow();
			const after = group.maxUsageBytes() ?? 0;
			expect(after - before).toBeGreaterThanOrEqual(40 * 2 ** 20);
		},
	);
});
