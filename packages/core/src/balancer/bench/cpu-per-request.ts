// CPU per request of each balancer design at one fixed request rate, in one run (issue 8 §4):
//   embedded tcp (L4 splice) · embedded tcp with upstream connections closed every 100 requests (the
//   "max connection age" design) · embedded http (per-request over pooled upstream connections) · HAProxy
//   in mode http. Every balancer runs alone on core 0; the two upstreams and the load driver share core 1.
// Run by hand: `npx tsx src/balancer/bench/cpu-per-request.ts` in packages/core (RATE, SECONDS to change).
// Not a test: figures go to the balancer's README.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { findHaproxy, startHaproxyBalancer } from "../haproxy.ts";
import type { Upstream } from "../types.ts";

const RATE = Number(process.env.RATE ?? 2000);
const SECONDS = Number(process.env.SECONDS ?? 8);
/** Designs are measured in interleaved rounds (the machine is shared); the median round is reported. */
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CONNECTIONS = 16;
const TICK = Number(spawnSync("getconf", ["CLK_TCK"]).stdout.toString()) || 100;
const taskset = (core: number) =>
	spawnSync("sh", ["-c", "command -v taskset"]).status === 0
		? ["taskset", "-c", String(core)]
		: [];
spawnSync("taskset", ["-pc", "1", String(process.pid)]);

/** CPU seconds (user + system) a process has used. */
function cpuSeconds(pid: number): number {
	const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
	const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
	return (Number(fields[11]) + Number(fields[12])) / TICK;
}

const children: ChildProcess[] = [];
function start(
	command: string[],
): Promise<{ child: ChildProcess; url: string }> {
	const child = spawn(command[0] as string, command.slice(1), {
		stdio: ["ignore", "pipe", "inherit"],
		env: { ...process.env, ORT_DISABLE_TELEMETRY: "1" },
	});
	children.push(child);
	return new Promise((resolve, reject) => {
		child.once("exit", (code) =>
			reject(new Error(`${command.join(" ")} exited ${code}`)),
		);
		child.stdout?.once("data", (d: Buffer) =>
			resolve({
				child,
				url: JSON.parse(d.toString().split("\n")[0] as string).url,
			}),
		);
	});
}

/** An upstream answering a small JSON like /predict does; `maxRequests` closes connections after N. */
const upstreamSource = (maxRequests: number) => `
const http = require("node:http");
const body = JSON.stringify({ model: { name: "penguins", version: "1" }, predictions: [{ label: "Adelie", probabilities: { Adelie: 0.9, Chinstrap: 0.05, Gentoo: 0.05 } }] });
const max = ${maxRequests};
const s = http.createServer((req, res) => { req.resume(); req.on("end", () => {
  const n = (req.socket.served = (req.socket.served || 0) + 1);
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...(max && n >= max ? { connection: "close" } : {}) });
  res.end(body); }); });
s.keepAliveTimeout = 65000;
s.listen(0, process.argv[1], () => console.log(JSON.stringify({ url: "http://" + process.argv[1] + ":" + s.address().port })));`;

async function upstreams(maxRequests: number) {
	const list = await Promise.all(
		[1, 2].map((i) =>
			start([
				...taskset(1),
				process.execPath,
				"-e",
				upstreamSource(maxRequests),
				`127.0.1.${i}`,
			]),
		),
	);
	return list.map(({ child, url }, i) => ({
		child,
		upstream: {
			id: `u${i}`,
			host: `127.0.1.${i + 1}`,
			port: Number(new URL(url).port),
		} as Upstream,
	}));
}

async function freePort(): Promise<number> {
	const s = createServer();
	await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
	const address = s.address();
	await new Promise((r) => s.close(r));
	return typeof address === "object" && address ? address.port : 0;
}

const record = {
	Island: "Biscoe",
	"Beak Length (mm)": 47.3,
	"Beak Depth (mm)": 13.8,
	"Flipper Length (mm)": 216,
	"Body Mass (g)": 4725,
	Sex: "FEMALE",
};
async function load(url: string, seconds: number) {
	const result = await autocannon({
		url: `${url}/predict`,
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ records: [record] }),
		connections: CONNECTIONS,
		overallRate: RATE,
		duration: seconds,
	});
	return {
		requests: result.requests.total,
		errors: result.errors + result.non2xx,
		p99: result.latency.p99,
	};
}

interface Row {
	design: string;
	balancerUs: number;
	upstreamsUs: number;
	requests: number;
	errors: number;
	p99: number;
}
const samples = new Map<string, Row[]>();
async function measure(
	design: string,
	url: string,
	balancerPid: number,
	ups: { child: ChildProcess }[],
) {
	await load(url, 1); // warm-up
	const pids = ups.map((u) => u.child.pid as number);
	const b0 = cpuSeconds(balancerPid);
	const u0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
	const r = await load(url, SECONDS);
	const b1 = cpuSeconds(balancerPid);
	const u1 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
	const list = samples.get(design) ?? [];
	samples.set(design, list);
	list.push({
		design,
		balancerUs: Math.round(((b1 - b0) / r.requests) * 1e6 * 10) / 10,
		upstreamsUs: Math.round(((u1 - u0) / r.requests) * 1e6 * 10) / 10,
		requests: r.requests,
		errors: r.errors,
		p99: r.p99,
	});
	console.error(list.at(-1));
}

const entry = fileURLToPath(new URL("./run-embedded.ts", import.meta.url));
const tsx = ["--import", "tsx"];
try {
	const plain = await upstreams(0);
	const recycling = await upstreams(100);
	const designs = [
		["embedded tcp (L4 splice)", "tcp", plain],
		["embedded tcp + upstream closes every 100 requests", "tcp", recycling],
		["embedded http (per request, pooled upstream connections)", "http", plain],
	] as const;
	const running: {
		design: string;
		url: string;
		pid: number;
		ups: typeof plain;
	}[] = [];
	for (const [design, mode, ups] of designs) {
		const lb = await start([
			...taskset(0),
			process.execPath,
			...tsx,
			entry,
			mode,
			JSON.stringify(ups.map((u) => u.upstream)),
		]);
		running.push({ design, url: lb.url, pid: lb.child.pid as number, ups });
	}
	const haproxy = findHaproxy()
		? await startHaproxyBalancer({
				port: await freePort(),
				upstreams: plain.map((u) => u.upstream),
				wrapper: taskset(0),
			})
		: undefined;
	if (haproxy)
		running.push({
			design: "HAProxy 2.6 mode http (1 thread)",
			url: haproxy.url,
			pid: haproxy.pids()[0] as number,
			ups: plain,
		});
	await new Promise((r) => setTimeout(r, 1500)); // first health checks
	for (let round = 0; round < ROUNDS; round++)
		for (let i = 0; i < running.length; i++) {
			const r = running[
				(i + round) % running.length
			] as (typeof running)[number];
			await measure(r.design, r.url, r.pid, r.ups);
		}
	await haproxy?.close();
	const rows = [...samples.values()].map((list) => {
		const sorted = [...list].sort((a, b) => a.balancerUs - b.balancerUs);
		return sorted[Math.floor(sorted.length / 2)] as Row;
	});
	console.log(
		`\n${RATE} req/s for ${SECONDS} s, ${CONNECTIONS} keep-alive connections, median of ${ROUNDS} interleaved rounds, ${new Date().toISOString().slice(0, 10)}\n`,
	);
	console.log(
		"| design | balancer CPU µs/request | upstreams CPU µs/request | requests | errors | p99 ms |",
	);
	console.log("|---|---:|---:|---:|---:|---:|");
	for (const r of rows)
		console.log(
			`| ${r.design} | ${r.balancerUs} | ${r.upstreamsUs} | ${r.requests} | ${r.errors} | ${r.p99} |`,
		);
} finally {
	for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
}
