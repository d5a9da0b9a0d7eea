import { spawn, spawnSync } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { referenceBundleDir } from "@mdp/core";
import { describe, expect, it } from "vitest";

const cli = join(import.meta.dirname, "..", "bin", "mdp-bench.js");

/** PIDs of running `mdp-core serve` processes whose command line mentions `text`. */
async function serversMentioning(text: string): Promise<number[]> {
	const pids: number[] = [];
	for (const entry of await readdir("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(
			() => "",
		);
		if (cmdline.includes(text) && cmdline.includes("serve"))
			pids.push(Number(entry));
	}
	return pids;
}

describe("mdp-bench CLI", () => {
	it("refuses an unknown pattern with exit 2", () => {
		const r = spawnSync(
			process.execPath,
			[cli, "run", "--patterns", "static,mainframe"],
			{ encoding: "utf8" },
		);
		expect(r.status).toBe(2);
		expect(r.stderr).toContain("unknown pattern(s) mainframe");
	});

	it("refuses agree with a bad slice count, exit 2, before starting anything", () => {
		const r = spawnSync(process.execPath, [cli, "agree", "--slices", "0"], {
			encoding: "utf8",
		});
		expect(r.status).toBe(2);
		expect(r.stderr).toContain("--slices must be a whole number from 1 to 50");
	});

	it("advise names the provider whose package limit a 300 MB model crosses", () => {
		const r = spawnSync(
			process.execPath,
			[
				cli,
				"advise",
				"--rate",
				"50/s",
				"--p99",
				"100ms",
				"--model-size",
				"300MB",
				"--from",
				join(import.meta.dirname, "fixtures"),
			],
			{ encoding: "utf8" },
		);
		expect(r.status).toBe(0);
		expect(r.stdout).toContain("Package limits for a 300 MB model");
		expect(r.stdout).toMatch(
			/- aws: crossed: the aws unzipped package limit of 262 MB/,
		);
		expect(r.stdout).toMatch(/- azure: no package limit documented/);
	});

	it("on Ctrl-C tears down every server it started and exits 130", async () => {
		// A bundle copy in a temp dir: its path marks the servers this run starts.
		const dir = await mkdtemp(join(tmpdir(), "mdp-bench-sigint-"));
		const bundle = join(dir, "bundle");
		await cp(referenceBundleDir, bundle, { recursive: true });
		const child = spawn(
			process.execPath,
			[
				cli,
				"run",
				"--quick",
				"--patterns",
				"http",
				"--bundle",
				bundle,
				"--out",
				join(dir, "reports"),
			],
			{ stdio: ["ignore", "ignore", "pipe"] },
		);
		let progress = "";
		child.stderr.on("data", (d: Buffer) => {
			progress += d.toString();
		});
		try {
			// Wait until the load runs against a server of this run, then interrupt.
			for (
				let i = 0;
				i < 300 && !/http: (light|saturation)/.test(progress);
				i++
			)
				await new Promise((r) => setTimeout(r, 100));
			expect((await serversMentioning(bundle)).length).toBeGreaterThan(0);
			child.kill("SIGINT");
			const code = await new Promise((r) => child.once("exit", (c) => r(c)));
			expect(code).toBe(130);
			expect(await serversMentioning(bundle)).toEqual([]);
			expect(progress).toContain("SIGINT: tearing down");
		} finally {
			if (child.exitCode === null) child.kill("SIGKILL");
			await rm(dir, { recursive: true, force: true });
		}
	}, 90_000);
});
