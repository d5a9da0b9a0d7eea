import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type GoldenCase, readGoldenSet, referenceBundleDir } from "@mdp/core";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
	detectCgroups,
	parseInstanceSize,
	start,
	type VmDeployment,
} from "../src/index.ts";
import { until } from "./load.ts";

const support = detectCgroups();
const available = "version" in support;
const version = "version" in support ? support.version : 0;
let golden: GoldenCase[];
let fleet: VmDeployment | undefined;
beforeAll(async () => {
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
});
afterEach(async () => {
	await fleet?.stop();
	fleet = undefined;
}, 60_000);

/** The instance's own memory cgroup folder (v1 or v2), from /proc. */
function memoryGroup(pid: number): string {
	const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
	const line =
		version === 1
			? lines.find((l) => l.split(":")[1]?.split(",").includes("memory"))
			: lines.find((l) => l.startsWith("0::"));
	return join(
		"/sys/fs/cgroup",
		version === 1 ? "memory" : "",
		line?.split(":")[2] ?? "",
	);
}

describe("instance size", () => {
	it("parses machine-type-like sizes and refuses others", () => {
		expect(parseInstanceSize("1cpu-512mb")).toEqual({
			cpus: 1,
			memoryBytes: 512 * 1024 ** 2,
		});
		expect(parseInstanceSize("0.5cpu-2gb")).toEqual({
			cpus: 0.5,
			memoryBytes: 2 * 1024 ** 3,
		});
		for (const bad of ["1cpu", "0cpu-512mb", "1cpu-0mb", "fast"])
			expect(() => parseInstanceSize(bad)).toThrow(/--instance-size/);
	});

	it.runIf(available || process.env.CI === "true")(
		"puts each instance in a cgroup with the size's limits; one over its memory is killed and replaced",
		async (context) => {
			fleet = await start({
				bundle: referenceBundleDir,
				replicas: 1,
				instanceSize: "1cpu-512mb",
			});
			expect(fleet.cgroups).toMatch(/^cgroup v[12]: 1 CPU, 512 MiB/);
			const pid = fleet.units().find((u) => u.role === "instance")
				?.pid as number;
			const group = memoryGroup(pid);
			expect(group).toMatch(/mdp-vm-/);
			const limitFile = version === 1 ? "memory.limit_in_bytes" : "memory.max";
			const usageFile =
				version === 1 ? "memory.usage_in_bytes" : "memory.current";
			expect(Number(readFileSync(join(group, limitFile), "utf8"))).toBe(
				512 * 1024 ** 2,
			);
			// Squeeze the limit to just above what it uses now, then make it parse large requests.
			const usage = Number(readFileSync(join(group, usageFile), "utf8"));
			context.annotate(
				`instance memory at start: ${Math.round(usage / 1024 ** 2)} MiB`,
			);
			await writeFile(join(group, limitFile), String(usage + 4 * 1024 ** 2));
			const records = Array.from(
				{ length: 1000 },
				(_, i) => (golden[i % golden.length] as GoldenCase).record,
			);
			const body = JSON.stringify({ records });
			await Promise.all(
				Array.from({ length: 40 }, () =>
					fetch(`${fleet?.url}/predict`, {
						method: "POST",
						headers: { "content-type": "application/json" },
						body,
					}).catch(() => undefined),
				),
			);
			expect(await until(() => (fleet?.replacements ?? 0) >= 1, 30_000)).toBe(
				true,
			);
			const died = fleet.events.find((e) => e.type === "instance-died");
			expect(died?.detail).toBe("SIGKILL");
			// The replacement has the configured limit again, in a group of its own.
			expect(
				await until(
					() =>
						fleet
							?.units()
							.some((u) => u.role === "instance" && u.pid !== pid) ?? false,
					30_000,
				),
			).toBe(true);
			const next = fleet.units().find((u) => u.role === "instance")
				?.pid as number;
			expect(
				Number(readFileSync(join(memoryGroup(next), limitFile), "utf8")),
			).toBe(512 * 1024 ** 2);
		},
	);
});
