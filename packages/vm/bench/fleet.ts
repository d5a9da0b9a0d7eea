// Benchmarks of the VM pattern (issue 10), run by hand: `pnpm -F @mdp/vm bench` (not timed tests).
//   1. Throughput and p50/p99 of POST /predict (1 record) through 1, 2 and 3 instances behind each
//      balancer, against one instance served directly (wrk, 32 connections, 5 s each).
//   2. Memory of the whole fleet: RSS of every instance and of the balancer (HAProxy's process; the
//      embedded balancer lives in this process, whose RSS is reported as its upper bound).
//   3. Time to scale out by one: from the call to the new instance serving (3 times).
// On this 2-core machine more instances cannot add throughput; the figures show what a fleet costs.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGoldenSet, referenceBundleDir } from "@mdp/core";
import { findHaproxy } from "@mdp/core/balancer";
import { buildServer } from "@mdp/core/build";
import { start } from "../src/index.ts";

const SECONDS = Number(process.env.SECONDS ?? 5);
if (spawnSync("sh", ["-c", "command -v wrk"]).status !== 0)
	throw new Error("this benchmark needs wrk (apt-get install wrk)");
const dir = await mkdtemp(join(tmpdir(), "mdp-vm-bench-"));
const artifact = join(dir, "server");
await buildServer({ out: artifact });
const [first] = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
const script = join(dir, "post.lua");
await writeFile(
	script,
	`wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = ${JSON.stringify(JSON.stringify({ records: [first?.record] }))}\n`,
);
const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

async function wrk(url: string) {
	const out = await new Promise<string>((resolve) => {
		const child = spawn(
			"wrk",
			[
				"-t1",
				"-c32",
				`-d${SECONDS}s`,
				"--latency",
				"-s",
				script,
				`${url}/predict`,
			],
			{ stdio: ["ignore", "pipe", "inherit"] },
		);
		let text = "";
		child.stdout.on("data", (d: Buffer) => {
			text += d.toString();
		});
		child.once("close", () => resolve(text));
	});
	const ms = (label: string) => {
		const m = new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
		return m
			? Number(m[1]) * (UNIT_MS[m[2] as string] ?? Number.NaN)
			: Number.NaN;
	};
	const errors =
		Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) +
		(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
			.exec(out)
			?.slice(1)
			.reduce((n, x) => n + Number(x), 0) ?? 0);
	return {
		rps: Math.round(
			Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN),
		),
		p50: ms("50"),
		p99: ms("99"),
		errors,
	};
}

const rssMiB = (pid: number) => {
	try {
		const kb = Number(
			/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1],
		);
		return kb / 1024;
	} catch {
		return Number.NaN;
	}
};

const rows: string[] = [];
const scaleMs: number[] = [];
try {
	for (const lb of findHaproxy()
		? (["embedded", "haproxy"] as const)
		: (["embedded"] as const)) {
		const fleet = await start({
			bundle: referenceBundleDir,
			replicas: 1,
			lb,
			artifact,
		});
		try {
			for (const n of [1, 2, 3]) {
				if (n > 1) {
					const asked = performance.now();
					await fleet.scale(n);
					if (lb === "embedded") scaleMs.push(performance.now() - asked);
				}
				if (n === 1 && lb === "embedded") {
					const [only] = await fleet.balancer.list();
					const direct = await wrk(`http://${only?.host}:${only?.port}`);
					rows.push(
						`| direct to 1 instance | ${direct.rps} | ${direct.p50.toFixed(2)} | ${direct.p99.toFixed(2)} | ${direct.errors} | ${rssMiB(fleet.units()[0]?.pid as number).toFixed(0)} |`,
					);
				}
				const r = await wrk(fleet.url);
				const units = fleet.units();
				const instances = units
					.filter((u) => u.role === "instance")
					.reduce((m, u) => m + rssMiB(u.pid as number), 0);
				const balancer =
					lb === "haproxy"
						? rssMiB(units.find((u) => u.role === "balancer")?.pid as number)
						: rssMiB(process.pid);
				rows.push(
					`| ${n} instance${n > 1 ? "s" : ""} behind ${lb} | ${r.rps} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} | ${(instances + balancer).toFixed(0)} (instances ${instances.toFixed(0)} + balancer ${balancer.toFixed(0)}${lb === "embedded" ? ", this process" : ""}) |`,
				);
				console.error(rows.at(-1));
			}
			// Scale out by one more, twice more, for the time-to-serve figure.
			for (const n of [4, 3, 4]) {
				const asked = performance.now();
				await fleet.scale(n);
				if (n === 4 && lb === "embedded")
					scaleMs.push(performance.now() - asked);
			}
		} finally {
			await fleet.stop();
		}
	}
	console.log(
		`\nPOST /predict (1 record), wrk 32 connections × ${SECONDS} s, ${new Date().toISOString().slice(0, 10)}\n`,
	);
	console.log("| target | req/s | p50 ms | p99 ms | errors | fleet RSS MiB |");
	console.log("|---|---:|---:|---:|---:|---|");
	for (const row of rows) console.log(row);
	console.log(
		`\nscale out by one (call → new instance serving): ${scaleMs.map((m) => Math.round(m)).join(", ")} ms`,
	);
} finally {
	await rm(dir, { recursive: true, force: true });
}
