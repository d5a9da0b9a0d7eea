// Benchmarks of the static pattern (`pnpm -F @mdp/static bench`), not timed tests:
//   1. the embedded library in-process, batch 1, against raw onnxruntime session.run on the same tensor;
//   2. the single executable: size, start to first prediction (median of runs), records/s on 10,000 records;
//   3. the browser page: navigation to first prediction in Chromium (when Debian's chromium is installed).
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import {
	loadBundle,
	loadOnnxRuntime,
	readGoldenSet,
	referenceBundleDir,
} from "@mdp/core";
import { chromium } from "playwright-core";
import {
	buildExecutable,
	buildWebPage,
	createEmbeddedPredictor,
} from "../src/index.ts";

const RUNS = Number(process.env.RUNS ?? 15);
const median = (xs: number[]) =>
	[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const pct = (xs: number[], p: number) =>
	[...xs].sort((a, b) => a - b)[Math.floor(xs.length * p)] as number;
const dir = await mkdtemp(join(tmpdir(), "mdp-bench-static-"));
const golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
const rows: string[] = [];

// ---- 1. In-process library against raw session.run ----
{
	const ort = await loadOnnxRuntime();
	const { manifest, modelBytes } = await loadBundle(referenceBundleDir);
	const session = await ort.InferenceSession.create(modelBytes, {
		intraOpNumThreads: 1,
		interOpNumThreads: 1,
	});
	const predictor = await createEmbeddedPredictor();
	const record = [golden[0]?.record];
	const tensor = new ort.Tensor(
		"float32",
		predictor.extractor.extract(record).data,
		[1, manifest.model.input.columns],
	);
	const variants = {
		"raw session.run": () => session.run({ features: tensor }),
		"embedded predictor": () => predictor.predict(record),
	};
	const results: Record<
		string,
		{ p50: number[]; p99: number[]; rps: number[] }
	> = {};
	for (const name of Object.keys(variants))
		results[name] = { p50: [], p99: [], rps: [] };
	for (let round = 0; round < 7; round++) {
		for (const [name, call] of round % 2
			? Object.entries(variants).reverse()
			: Object.entries(variants)) {
			const times: number[] = [];
			const start = performance.now();
			for (let i = 0; i < 5000; i++) {
				const t = performance.now();
				await call();
				times.push((performance.now() - t) * 1000);
			}
			const r = results[name] as {
				p50: number[];
				p99: number[];
				rps: number[];
			};
			r.p50.push(pct(times, 0.5));
			r.p99.push(pct(times, 0.99));
			r.rps.push(5000 / ((performance.now() - start) / 1000));
		}
	}
	rows.push(
		"| in-process, batch 1 | p50 µs | p99 µs | predictions/s |",
		"|---|---|---|---|",
	);
	for (const [name, r] of Object.entries(results)) {
		rows.push(
			`| ${name} | ${median(r.p50).toFixed(1)} | ${median(r.p99).toFixed(1)} | ${Math.round(median(r.rps))} |`,
		);
	}
	rows.push("");
	await predictor.close();
	await session.release();
}

// ---- 2. Single executable ----
{
	process.stderr.write("building the single executable…\n");
	const artifact = await buildExecutable({
		bundle: referenceBundleDir,
		out: join(dir, "penguins"),
	});
	const env = {
		PATH: "/usr/bin:/bin",
		HOME: dir,
		MDP_CACHE_DIR: join(dir, "cache"),
	};
	const one = `${JSON.stringify(golden[0]?.record)}\n`;
	const phaseRuns: Record<string, number>[] = [];
	const timeRun = (input: string, cacheDir = env.MDP_CACHE_DIR) => {
		const start = performance.now();
		const r = spawnSync(artifact.path, [], {
			input,
			env: { ...env, MDP_CACHE_DIR: cacheDir, MDP_STARTUP_PHASES: "1" },
			maxBuffer: 1 << 28,
			encoding: "utf8",
		});
		if (r.status !== 0) throw new Error(`executable failed: ${r.stderr}`);
		const line = r.stderr.split("\n").find((l) => l.startsWith('{"phases"'));
		if (line) phaseRuns.push(JSON.parse(line).phases);
		return performance.now() - start;
	};
	const cold: number[] = [];
	for (let i = 0; i < 5; i++) cold.push(timeRun(one, join(dir, `cold-${i}`)));
	timeRun(one);
	phaseRuns.length = 0;
	const warm = Array.from({ length: RUNS }, () => timeRun(one));
	const phase = (name: string) =>
		median(phaseRuns.map((p) => p[name] as number)).toFixed(0);
	const nodeStart = Array.from({ length: RUNS }, () => {
		const start = performance.now();
		spawnSync(process.execPath, ["-e", "0"], { env });
		return performance.now() - start;
	});
	const big = Array.from({ length: 10_000 }, (_, i) =>
		JSON.stringify(golden[i % golden.length]?.record),
	).join("\n");
	const bigMs = median(Array.from({ length: 5 }, () => timeRun(big)));
	const parts = Object.entries(artifact.parts ?? {})
		.map(([k, v]) => `${k} ${(v / 1e6).toFixed(1)} MB`)
		.join(", ");
	rows.push("| single executable | value |", "|---|---|");
	rows.push(`| size | ${(artifact.bytes / 1e6).toFixed(1)} MB (${parts}) |`);
	rows.push(
		`| start to first prediction, warm cache (median of ${RUNS}) | ${median(warm).toFixed(0)} ms (min ${Math.min(...warm).toFixed(0)}, max ${Math.max(...warm).toFixed(0)}) |`,
	);
	rows.push(
		`| phases, warm (ms since process start, median) | script running ${phase("script")}, runtime loaded ${phase("runtime")}, session ready ${phase("session")}, first prediction out ${phase("firstPrediction")} |`,
	);
	rows.push(
		`| start to first prediction, first run (extracts the runtime; median of 5) | ${median(cold).toFixed(0)} ms |`,
	);
	rows.push(
		`| \`node -e 0\` on this machine, same environment (median of ${RUNS}) | ${median(nodeStart).toFixed(0)} ms |`,
	);
	rows.push(
		`| 10,000 records, whole run (median of 5) | ${bigMs.toFixed(0)} ms → ${Math.round(10_000 / ((bigMs - median(warm)) / 1000))} records/s after start-up |`,
	);
	rows.push("");
}

// ---- 3. Browser page ----
const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
if (spawnSync(CHROMIUM, ["--version"]).status === 0) {
	const site = await buildWebPage({
		bundle: referenceBundleDir,
		out: join(dir, "site"),
	});
	const types: Record<string, string> = {
		".html": "text/html",
		".js": "text/javascript",
		".wasm": "application/wasm",
		".json": "application/json",
	};
	const server = createServer(async (req, res) => {
		const path = join(
			site.path,
			req.url === "/" ? "index.html" : (req.url ?? ""),
		);
		res
			.writeHead(200, {
				"content-type": types[extname(path)] ?? "application/octet-stream",
			})
			.end(await readFile(path).catch(() => ""));
	});
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
	const browser = await chromium.launch({
		executablePath: CHROMIUM,
		args: [
			"--no-sandbox",
			"--disable-gpu",
			"--disable-background-networking",
			"--disable-component-update",
			"--no-first-run",
		],
	});
	const firsts: number[] = [];
	const loads: number[] = [];
	for (let i = 0; i < 5; i++) {
		const context = await browser.newContext();
		const page = await context.newPage();
		const start = performance.now();
		await page.goto(url);
		await page.waitForFunction(() => document.body.dataset.ready === "true");
		await page.evaluate(
			(r) =>
				(
					window as unknown as {
						mdp: { predict(x: unknown[]): Promise<unknown> };
					}
				).mdp.predict([r]),
			golden[0]?.record,
		);
		firsts.push(performance.now() - start);
		loads.push(
			await page.evaluate(
				() => (window as unknown as { mdp: { loadMs: number } }).mdp.loadMs,
			),
		);
		await context.close();
	}
	await browser.close();
	server.close();
	rows.push(
		"| browser page (Chromium, fresh context each) | value |",
		"|---|---|",
	);
	rows.push(
		`| size | ${(site.bytes / 1e6).toFixed(1)} MB (wasm runtime ${((site.parts?.["ort-wasm-simd-threaded.wasm"] ?? 0) / 1e6).toFixed(1)} MB, app.js ${((site.parts?.["app.js"] ?? 0) / 1e3).toFixed(0)} KB) |`,
	);
	rows.push(
		`| navigation to first prediction (median of 5) | ${median(firsts).toFixed(0)} ms |`,
	);
	rows.push(
		`| of which model load in the page (fetch + wasm init + session) | ${median(loads).toFixed(0)} ms |`,
	);
} else {
	rows.push("browser page: not measured (no chromium at /usr/bin/chromium)");
}

console.log(
	`\nStatic pattern, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n`,
);
console.log(rows.join("\n"));
await rm(dir, { recursive: true, force: true });
