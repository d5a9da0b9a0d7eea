// Serving benchmarks, run by hand (`pnpm -F @mdp/core bench:serving`), not as timed tests:
//   1. HTTP overhead: POST /predict (1 record) against a bare Hono app returning a constant JSON, and the
//      same record through OIP infer (`/v2/models/penguins/infer`) against /predict.
//   2. Adaptive batching: 64 concurrent single-record requests with and without batching.
//   3. Balancers: through the embedded balancer and through HAProxy against direct to one upstream.
// wrk (Debian) drives the load on core 1; servers and balancers share core 0 (taskset), so every variant
// has the same CPU budget. Variants are interleaved over rounds in rotating order; medians are reported.
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	type Balancer,
	findHaproxy,
	startEmbeddedBalancer,
	startHaproxyBalancer,
} from "../src/balancer/index.ts";
import { startServeProcess } from "../src/http/index.ts";
import { readGoldenSet, referenceBundleDir } from "../src/index.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 5);
const has = (bin: string) =>
	spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0;
if (!has("wrk"))
	throw new Error("this benchmark needs wrk (apt-get install wrk)");
const pin = (core: number) =>
	has("taskset") ? ["taskset", "-c", String(core)] : [];
/** `command args…`, pinned to a core where taskset exists. */
const pinned = (
	core: number,
	command: string,
	args: string[],
): [string, string[]] => {
	const [first, ...rest] = [...pin(core), command, ...args];
	return [first as string, rest];
};

const dir = await mkdtemp(join(tmpdir(), "mdp-bench-serving-"));
const [first] = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
const wrkScript = async (name: string, body: unknown) => {
	const file = join(dir, name);
	await writeFile(
		file,
		`wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = ${JSON.stringify(JSON.stringify(body))}\n`,
	);
	return file;
};
const record = (first?.record ?? {}) as Record<string, unknown>;
const predictScript = await wrkScript("predict.lua", { records: [record] });
const oipScript = await wrkScript("infer.lua", {
	inputs: Object.entries(record).map(([name, value]) => ({
		name,
		shape: [1],
		datatype: typeof value === "string" ? "BYTES" : "FP32",
		data: [value],
	})),
});

interface Target {
	name: string;
	group: string;
	connections: number;
	url: () => string;
	/** Request path and wrk script; POST /predict with one record unless given. */
	path?: string;
	script?: string;
}
interface Sample {
	rps: number;
	p50: number;
	p99: number;
	errors: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

/** Runs wrk without blocking this process, whose event loop also runs the embedded balancer. */
async function wrk(
	url: string,
	connections: number,
	path = "/predict",
	script = predictScript,
): Promise<Sample> {
	const [command, args] = pinned(1, "wrk", [
		"-t1",
		`-c${connections}`,
		`-d${SECONDS}s`,
		"--latency",
		"-s",
		script,
		`${url}${path}`,
	]);
	const out = await new Promise<string>((resolve) => {
		const child = spawn(command, args, {
			stdio: ["ignore", "pipe", "inherit"],
		});
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
	const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
	const socket =
		/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
			out,
		);
	const socketErrors = socket
		? socket.slice(1).reduce((n, x) => n + Number(x), 0)
		: 0;
	return {
		rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN),
		p50: ms("50"),
		p99: ms("99"),
		errors: non2xx + socketErrors,
	};
}

// ---- Deploy everything once; each variant is a URL ----
const bare = await startServeProcess({ wrapper: pin(0), args: ["--bare"] });
const plain = await startServeProcess({
	wrapper: pin(0),
	args: ["--batch-max-rows", "0"],
});
const batched = await startServeProcess({
	wrapper: pin(0),
	args: ["--batch-max-rows", "64"],
});
const upstream = {
	id: "a",
	host: "127.0.0.1",
	port: Number(new URL(plain.url).port),
};
const embedded = await startEmbeddedBalancer({ upstreams: [upstream] });
const balancers: Balancer[] = [embedded];
let haproxy: Balancer | undefined;
if (findHaproxy()) {
	haproxy = await startHaproxyBalancer({
		port: 18_000 + Math.floor(Math.random() * 1000),
		upstreams: [upstream],
		wrapper: pin(0),
	});
	balancers.push(haproxy);
}
// The embedded balancer runs in this process: pin it to the servers' core too.
if (has("taskset")) spawnSync("taskset", ["-pc", "0", String(process.pid)]);
await new Promise((r) => setTimeout(r, 1500)); // first health checks

const targets: Target[] = [
	{
		group: "overhead",
		name: "bare Hono (constant JSON)",
		connections: 32,
		url: () => bare.url,
	},
	{
		group: "overhead",
		name: "mdp /predict, adaptive batching",
		connections: 32,
		url: () => batched.url,
	},
	{
		group: "overhead",
		name: "mdp /predict, 1 record",
		connections: 32,
		url: () => plain.url,
	},
	{
		group: "oip",
		name: "mdp /predict, adaptive batching (reference for OIP)",
		connections: 32,
		url: () => batched.url,
	},
	{
		group: "oip",
		name: "mdp OIP infer, 1 record, adaptive batching",
		connections: 32,
		url: () => batched.url,
		path: "/v2/models/penguins/infer",
		script: oipScript,
	},
	{
		group: "batching",
		name: "no batching, c=64",
		connections: 64,
		url: () => plain.url,
	},
	{
		group: "batching",
		name: "adaptive batching ≤64 rows, c=64",
		connections: 64,
		url: () => batched.url,
	},
	{
		group: "balancer",
		name: "direct to one upstream",
		connections: 32,
		url: () => plain.url,
	},
	{
		group: "balancer",
		name: "through embedded balancer (L4)",
		connections: 32,
		url: () => embedded.url,
	},
	...(haproxy
		? [
				{
					group: "balancer",
					name: "through HAProxy (L7)",
					connections: 32,
					url: () => (haproxy as Balancer).url,
				},
			]
		: []),
];
const samples = new Map<Target, Sample[]>(targets.map((t) => [t, []]));
for (const t of targets) await wrk(t.url(), t.connections, t.path, t.script); // warm-up, discarded
for (let round = 0; round < ROUNDS; round++) {
	for (let i = 0; i < targets.length; i++) {
		const t = targets[(i + round) % targets.length] as Target;
		process.stderr.write(`round ${round + 1}/${ROUNDS}: ${t.name}\n`);
		samples.get(t)?.push(await wrk(t.url(), t.connections, t.path, t.script));
	}
}

const median = (xs: number[]) =>
	[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
console.log(
	`\nServing benchmarks: wrk -t1, ${SECONDS} s × ${ROUNDS} rounds, medians; servers on core 0, wrk on core 1\n`,
);
for (const group of ["overhead", "oip", "batching", "balancer"]) {
	const rows = targets.filter((t) => t.group === group);
	const base = median((samples.get(rows[0] as Target) ?? []).map((s) => s.rps));
	console.log(
		`| ${group} | req/s (min–max) | p50 ms | p99 ms | errors | ratio |`,
	);
	console.log("|---|---|---|---|---|---|");
	for (const t of rows) {
		const s = samples.get(t) ?? [];
		const rps = s.map((x) => x.rps);
		console.log(
			`| ${t.name} | ${Math.round(median(rps))} (${Math.round(Math.min(...rps))}–${Math.round(Math.max(...rps))}) | ${median(s.map((x) => x.p50)).toFixed(2)} | ${median(s.map((x) => x.p99)).toFixed(2)} | ${s.reduce((n, x) => n + x.errors, 0)} | ${(median(rps) / base).toFixed(2)} |`,
		);
	}
	console.log("");
}

for (const b of balancers) await b.close();
await plain.stop();
await batched.stop();
await bare.stop();
await rm(dir, { recursive: true, force: true });
