// Benchmarks of the container pattern, run by hand (`pnpm -F @mdp/container bench`), never as timed tests:
//   1. The container tax: N containers against the same N plain processes (the vm pattern's unit: the same
//      bundled server on the host's Node), both behind the same embedded balancer, closed-loop load.
//   2. Cold start from zero, split by phase (create, start, process start, model load, ready, first answer).
//   3. Image build time (base cached, and the base itself), image size.
//   4. Docker against Podman (each measured where its engine answers).
// Variants are interleaved over rounds; medians are reported. Everything created is removed at the end.
import { spawnSync } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readGoldenSet, referenceBundleDir } from "@mdp/core";
import { type Balancer, startEmbeddedBalancer } from "@mdp/core/balancer";
import { buildServer } from "@mdp/core/build";
import { type ReadyProcess, spawnUntilReady } from "@mdp/core/process";
import { ensureBaseImage } from "../src/base-image.ts";
import { buildModelImage } from "../src/build-image.ts";
import { connectEngine, type Engine, type EngineName } from "../src/engine.ts";
import { type ContainerDeployment, start } from "../src/start.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 2);
const SECONDS = Number(process.env.SECONDS ?? 5);
const REPLICAS = Number(process.env.REPLICAS ?? 2);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 16);
const COLD_STARTS = Number(process.env.COLD_STARTS ?? 5);
const LABEL = "org.mdp.bench";
const runId = `b${Date.now().toString(36)}`;
const log = (line: string) => process.stderr.write(`${line}\n`);

const dir = await mkdtemp(join(tmpdir(), "mdp-bench-container-"));
const [first] = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
const body = JSON.stringify({ records: [first?.record] });

interface LoadResult {
	rps: number;
	p50: number;
	p99: number;
	errors: number;
}

/**
 * Closed-loop load: CONNECTIONS keep-alive connections, each sending the next request as soon as the answer
 * is in, for SECONDS. (wrk gets no answer through core's embedded balancer in its current HTTP mode; see
 * the README.)
 */
async function load(url: string): Promise<LoadResult> {
	const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
	const target = new URL(`${url}/predict`);
	const latencies: number[] = [];
	let errors = 0;
	const end = performance.now() + SECONDS * 1000;
	const one = () =>
		new Promise<void>((resolve) => {
			const t0 = performance.now();
			const req = request(
				{
					host: target.hostname,
					port: target.port,
					path: target.pathname,
					method: "POST",
					agent,
					headers: {
						"content-type": "application/json",
						"content-length": Buffer.byteLength(body),
					},
				},
				(res) => {
					res.resume();
					res.on("end", () => {
						if (res.statusCode === 200) latencies.push(performance.now() - t0);
						else errors++;
						resolve();
					});
				},
			);
			req.on("error", () => {
				errors++;
				resolve();
			});
			req.end(body);
		});
	await Promise.all(
		Array.from({ length: CONNECTIONS }, async () => {
			while (performance.now() < end) await one();
		}),
	);
	agent.destroy();
	const sorted = latencies.sort((x, y) => x - y);
	const at = (q: number) =>
		Number(
			(sorted[Math.floor(q * (sorted.length - 1))] ?? Number.NaN).toFixed(2),
		);
	return {
		rps: latencies.length / SECONDS,
		p50: at(0.5),
		p99: at(0.99),
		errors,
	};
}

const median = (xs: number[]) => {
	const s = [...xs].sort((a, b) => a - b);
	return s.length ? (s[Math.floor((s.length - 1) / 2)] as number) : Number.NaN;
};

const engines: Engine[] = [];
for (const name of (process.env.ENGINES ?? "docker,podman").split(
	",",
) as EngineName[]) {
	try {
		engines.push(await connectEngine({ engine: name }));
	} catch (error) {
		log(`${name}: not measured (${(error as Error).message})`);
	}
}

const processes: ReadyProcess[] = [];
let processBalancer: Balancer | undefined;
const deployments: ContainerDeployment[] = [];
const report: Record<string, unknown> = {
	date: new Date().toISOString(),
	replicas: REPLICAS,
	connections: CONNECTIONS,
	seconds: SECONDS,
	rounds: ROUNDS,
};
try {
	// ---- Images: build times and size ----
	const images: Record<string, string> = {};
	const builds: Record<string, unknown> = {};
	for (const engine of engines) {
		const t0 = performance.now();
		const base = await ensureBaseImage(engine, {
			tag: `mdp-node-base:${runId}`,
		});
		const baseMs = performance.now() - t0;
		const cold = await buildModelImage(engine, {
			bundle: referenceBundleDir,
			base: base.tag,
			repository: `mdp-bench-${runId}`,
			labels: { [LABEL]: runId },
		});
		// A second build of a new model version on the cached base and layers: what updateModel pays.
		const v2 = join(dir, "v2");
		await rm(v2, { recursive: true, force: true });
		await cp(referenceBundleDir, v2, { recursive: true });
		const manifest = JSON.parse(await readFile(join(v2, "mdp.json"), "utf8"));
		manifest.version = "1.0.1";
		await writeFile(join(v2, "mdp.json"), JSON.stringify(manifest));
		const warm = await buildModelImage(engine, {
			bundle: v2,
			base: base.tag,
			repository: `mdp-bench-${runId}`,
			labels: { [LABEL]: runId },
		});
		images[engine.name] = cold.tag;
		builds[engine.name] = {
			baseBuildMs: Math.round(baseMs),
			baseBytes: base.bytes,
			baseParts: base.parts,
			imageBuildMs: Math.round(cold.buildMs),
			rebuildNewVersionMs: Math.round(warm.buildMs),
			imageBytes: cold.bytes,
			imageParts: cold.parts,
		};
		log(
			`${engine.name}: base ${Math.round(baseMs)} ms, image ${Math.round(cold.buildMs)} ms, new version ${Math.round(warm.buildMs)} ms, ${(cold.bytes / 1e6).toFixed(1)} MB`,
		);
	}
	report.builds = builds;

	// ---- Throughput: N plain processes against N containers per engine ----
	const server = await buildServer({
		out: join(dir, "server"),
		bundle: referenceBundleDir,
	});
	processBalancer = await startEmbeddedBalancer({
		healthCheck: { intervalMs: 500 },
	});
	for (let i = 0; i < REPLICAS; i++) {
		const port = 30_000 + Math.floor(Math.random() * 20_000);
		const p = await spawnUntilReady({
			command: [
				process.execPath,
				join(server.path, "mdp-serve.mjs"),
				"--host",
				"127.0.0.1",
				"--port",
				String(port),
			],
			url: `http://127.0.0.1:${port}`,
		});
		processes.push(p);
		await processBalancer.add(
			{ id: `process-${i}`, host: "127.0.0.1", port },
			{ waitHealthy: true },
		);
	}
	const targets: Record<string, string> = { processes: processBalancer.url };
	for (const engine of engines) {
		const d = await start({
			engine,
			image: images[engine.name],
			replicas: REPLICAS,
			logFile: join(dir, `logs-${engine.name}.jsonl`),
			labels: { [LABEL]: runId },
		});
		deployments.push(d);
		targets[`containers (${engine.name})`] = d.url;
	}
	const results: Record<string, LoadResult[]> = {};
	const names = Object.keys(targets);
	for (let round = 0; round < ROUNDS; round++) {
		for (let k = 0; k < names.length; k++) {
			const name = names[(round + k) % names.length] as string;
			const r = await load(targets[name] as string);
			results[name] = [...(results[name] ?? []), r];
			log(
				`round ${round + 1} ${name}: ${r.rps.toFixed(0)} req/s p50 ${r.p50} ms p99 ${r.p99} ms errors ${r.errors}`,
			);
		}
	}
	const throughput: Record<string, unknown> = {};
	// Paired by round (each round runs every variant back to back), so a busy moment hits all alike.
	const baseRounds = (results.processes ?? []).map((r) => r.rps);
	for (const [name, rs] of Object.entries(results)) {
		const rps = median(rs.map((r) => r.rps));
		throughput[name] = {
			rps: Math.round(rps),
			p50Ms: median(rs.map((r) => r.p50)),
			p99Ms: median(rs.map((r) => r.p99)),
			errors: rs.reduce((n, r) => n + r.errors, 0),
			vsProcesses: Number(
				median(rs.map((r, i) => r.rps / (baseRounds[i] ?? Number.NaN))).toFixed(
					3,
				),
			),
			perRound: rs.map((r) => Math.round(r.rps)),
		};
	}
	report.throughput = throughput;

	// ---- Footprint ----
	const footprint: Record<string, unknown> = {
		processRssBytes: processes.map((p) => {
			const status = spawnSync("cat", [`/proc/${p.pid}/status`], {
				encoding: "utf8",
			}).stdout;
			return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
		}),
	};
	for (const d of deployments) footprint[d.engine.name] = await d.stats();
	report.footprint = footprint;
	await Promise.all(deployments.splice(0).map((d) => d.stop()));

	// ---- Cold start from zero ----
	const coldStarts: Record<string, unknown> = {};
	for (const engine of engines) {
		const d = await start({
			engine,
			image: images[engine.name],
			replicas: 0,
			idleTimeoutMs: 3_600_000,
			logFile: join(dir, `logs-cold-${engine.name}.jsonl`),
			labels: { [LABEL]: runId },
		});
		deployments.push(d);
		const totals: number[] = [];
		for (let i = 0; i < COLD_STARTS; i++) {
			await d.scale(0);
			await new Promise((r) => setTimeout(r, 300));
			const t0 = performance.now();
			const res = await fetch(`${d.url}/predict`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body,
			});
			await res.arrayBuffer();
			totals.push(performance.now() - t0);
			if (res.status !== 200)
				throw new Error(`cold request answered ${res.status}`);
		}
		const phases = d.coldStarts;
		const pick = (key: keyof (typeof phases)[number]) =>
			Number(median(phases.map((p) => p[key])).toFixed(1));
		coldStarts[engine.name] = {
			requestToResponseMs: Number(median(totals).toFixed(1)),
			createMs: pick("createMs"),
			startMs: pick("startMs"),
			processStartMs: pick("processStartMs"),
			modelLoadMs: pick("modelLoadMs"),
			readyMs: pick("readyMs"),
			firstAnswerMs: Number(
				median(
					totals.map((t, i) => t - (phases[i]?.totalToReadyMs ?? Number.NaN)),
				).toFixed(1),
			),
			all: totals.map((t) => Math.round(t)),
		};
		log(
			`${engine.name} cold start: ${JSON.stringify(coldStarts[engine.name])}`,
		);
		await d.stop();
		deployments.pop();
	}
	report.coldStarts = coldStarts;
	console.log(JSON.stringify(report, null, 2));
} finally {
	await Promise.all(deployments.map((d) => d.stop().catch(() => {})));
	await Promise.all(processes.map((p) => p.stop()));
	await processBalancer?.close();
	for (const engine of engines) {
		const filters = { label: [`${LABEL}=${runId}`] };
		for (const c of await engine.docker.listContainers({ all: true, filters }))
			await engine.docker
				.getContainer(c.Id)
				.remove({ force: true })
				.catch(() => {});
		for (const image of await engine.docker.listImages({ filters }))
			await engine.docker
				.getImage(image.Id)
				.remove({ force: true })
				.catch(() => {});
		await engine.docker
			.getImage(`mdp-node-base:${runId}`)
			.remove({ force: true })
			.catch(() => {});
	}
	await rm(dir, { recursive: true, force: true });
}
