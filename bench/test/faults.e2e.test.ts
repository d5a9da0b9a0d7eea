import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBundle, readGoldenSet, referenceBundleDir } from "@mdp/core";
import { afterEach, describe, expect, it } from "vitest";
import { measureKillUnderLoad } from "../src/faults.ts";
import { createVmTarget } from "../src/targets/patterns-dynamic.ts";
import type { FleetUnderTest } from "../src/types.ts";

const workload = async () => ({
	golden: await readGoldenSet(join(referenceBundleDir, "golden.jsonl")),
	manifest: (await loadBundle(referenceBundleDir)).manifest,
});

const children: ChildProcess[] = [];
let server: Server | undefined;
afterEach(async () => {
	for (const c of children.splice(0))
		if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
	await new Promise((r) => (server ? server.close(r) : r(undefined)));
	server = undefined;
});

/** A real process standing in for an instance: it only waits to be killed. */
function instance(): ChildProcess {
	const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], {
		stdio: "ignore",
	});
	children.push(child);
	return child;
}

/**
 * A one-instance "fleet": a real HTTP server as its endpoint (answering 200 whatever happens to the
 * instance) and a real process as its instance; with `heals`, a dead instance is replaced at once.
 */
async function stubFleet(heals: boolean): Promise<FleetUnderTest> {
	server = createServer((req, res) => {
		req.resume();
		req.on("end", () => res.end("{}"));
	});
	await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
	let current = instance();
	let replacements = 0;
	const alive = (c: ChildProcess) =>
		c.exitCode === null && c.signalCode === null;
	return {
		endpoint: {
			kind: "http",
			url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
		},
		replicas: 1,
		pids: () => [current.pid as number],
		teardown: async () => {},
		async instancePids() {
			return alive(current) ? [current.pid as number] : [];
		},
		async health() {
			if (!alive(current) && heals) {
				current = instance();
				replacements++;
			}
			return { ready: alive(current) ? 1 : 0, replacements };
		},
	};
}

describe("measureKillUnderLoad", () => {
	it("kills the instance with SIGKILL mid-load, counts every request, and says when the fleet does not heal within the bound", async () => {
		const fleet = await stubFleet(false);
		const [victim] = await fleet.instancePids();
		const child = children[0] as ChildProcess;
		const result = await measureKillUnderLoad({
			fleet,
			workload: await workload(),
			rate: 50,
			durationS: 1,
			killAtS: 0.3,
			recoverWithinS: 1,
		});
		expect(victim).toBe(child.pid);
		expect(child.signalCode).toBe("SIGKILL");
		expect(result).toMatchObject({
			instances: 1,
			requests: 50,
			failed: 0,
			recovered: false,
			recovery_ms: null,
			replacements: 0,
		});
	});

	it("times the recovery from the kill to a whole fleet with the victim replaced", async () => {
		const fleet = await stubFleet(true);
		const result = await measureKillUnderLoad({
			fleet,
			workload: await workload(),
			rate: 50,
			durationS: 1,
			killAtS: 0.3,
		});
		expect(result.recovered).toBe(true);
		expect(result.replacements).toBe(1);
		expect(result.recovery_ms).toBeGreaterThanOrEqual(0);
	});

	it("refuses a kill time outside the load", async () => {
		const fleet = await stubFleet(true);
		await expect(
			measureKillUnderLoad({
				fleet,
				workload: await workload(),
				rate: 10,
				durationS: 1,
				killAtS: 2,
			}),
		).rejects.toThrow(/must fall inside the 1 s load/);
	});
});

describe("vm: kill under load on a real fleet (mdp-vm up, 2 instances)", () => {
	it("loses no request, replaces the killed instance, and leaves no process behind", async () => {
		const workDir = await mkdtemp(join(tmpdir(), "mdp-bench-vm-kill-"));
		const target = createVmTarget({ coldStartRuns: 1 });
		const ctx = {
			bundle: referenceBundleDir,
			workDir,
			serverWrapper: [],
			progress: () => {},
		};
		let fleet: FleetUnderTest | undefined;
		try {
			fleet = await (
				target.deployFleet as NonNullable<typeof target.deployFleet>
			)(ctx);
			const before = await fleet.instancePids();
			expect(before).toHaveLength(2);
			const result = await measureKillUnderLoad({
				fleet,
				workload: await workload(),
				rate: 100,
				durationS: 4,
				killAtS: 1,
			});
			expect(result.requests).toBe(400);
			// The embedded balancer retries a request that got no byte on another instance.
			expect(result.failed).toBeLessThanOrEqual(2);
			expect(result.recovered).toBe(true);
			expect(result.replacements).toBeGreaterThanOrEqual(1);
			const after = await fleet.instancePids();
			expect(after).toHaveLength(2);
			expect(after).not.toContain(before[0]);
			const pids = fleet.pids();
			await fleet.teardown();
			fleet = undefined;
			// An instance orphaned at the CLI's exit is reaped by init a moment later: wait (bounded) for
			// every process to be gone or a zombie, which no longer runs.
			const deadline = Date.now() + 10_000;
			while (pids.some(isRunning) && Date.now() < deadline)
				await new Promise((r) => setTimeout(r, 100));
			expect(pids.filter(isRunning), "processes still running").toEqual([]);
		} finally {
			await fleet?.teardown();
			await rm(workDir, { recursive: true, force: true });
		}
	}, 120_000);
});

/** Whether a process exists and is not a zombie (state Z in /proc/PID/stat). */
function isRunning(pid: number): boolean {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
		return (
			stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z"
		);
	} catch {
		return false;
	}
}
