// Benchmarks of the serverless pattern on this machine (figures, not tests): package sizes against the
// providers' limits, cold start by phase for the reference model and synthetic 10/50/200 MB bundles, warm
// latency against one vm-pattern server (and the platform's own floor, a function that does nothing),
// and throughput at the concurrency limit.
// Run: npx tsx packages/serverless/bench/serverless-bench.ts [--cold N] [--quick]
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readGoldenSet, referenceBundleDir } from "@mdp/core";
import { buildServer } from "@mdp/core/build";
import { spawnUntilReady } from "@mdp/core/process";
import { synthesizeBundle } from "@mdp/core/training";
import { formatBytes, PROVIDERS, SIZE_LIMITS } from "../src/limits.ts";
import { packageFunction, zipFolder } from "../src/package-function.ts";
import { startFunctionPlatform } from "../src/platform/function-platform.ts";

const { values } = parseArgs({
	options: { cold: { type: "string" }, quick: { type: "boolean" } },
});
const coldRuns = Number(values.cold ?? 10);
const golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
const body = JSON.stringify({ records: [golden[0]?.record] });
const work = await mkdtemp(join(tmpdir(), "mdp-serverless-bench-"));

function quantile(sorted: number[], q: number): number {
	return (
		sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ??
		Number.NaN
	);
}
function summary(xs: number[]): string {
	const s = [...xs].sort((a, b) => a - b);
	return `${quantile(s, 0.5).toFixed(1)} / ${quantile(s, 0.9).toFixed(1)} / ${(s.at(-1) ?? 0).toFixed(1)}`;
}
const predict = (url: string) =>
	fetch(`${url}/predict`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body,
	});

try {
	console.log(
		`# serverless benchmarks, ${new Date().toISOString()}, ${cpus().length}× ${cpus()[0]?.model}, Node ${process.version}\n`,
	);

	// ---- Package sizes ----
	console.log(
		"## Package sizes (reference model)\n\n| provider | zipped | limit | unzipped | limit |\n|---|---|---|---|---|",
	);
	const zips: Record<string, string> = {};
	for (const provider of PROVIDERS) {
		const pkg = await packageFunction({
			bundle: referenceBundleDir,
			provider,
			out: join(work, `${provider}.zip`),
		});
		zips[provider] = pkg.path;
		const l = SIZE_LIMITS[provider];
		console.log(
			`| ${provider} | ${formatBytes(pkg.compressedBytes)} | ${l.compressedBytes ? formatBytes(l.compressedBytes) : "none documented"} | ${formatBytes(pkg.uncompressedBytes)} | ${l.uncompressedBytes ? formatBytes(l.uncompressedBytes) : "none documented"} |`,
		);
	}

	// ---- Cold starts by phase ----
	const bundles: [string, string][] = [
		["reference (30 KB)", referenceBundleDir],
	];
	for (const mb of values.quick ? [10] : [10, 50, 200]) {
		const dir = join(work, `synth-${mb}`);
		await synthesizeBundle({
			out: dir,
			sizeBytes: mb * 1e6,
			from: referenceBundleDir,
		});
		bundles.push([`synthetic ${mb} MB`, dir]);
	}
	console.log(
		`\n## Cold start by phase, aws zip on the local platform (median / p90 / max of ${coldRuns}, ms; memory 1024 MB)\n\n| bundle | zipped | spawn | runtime + modules | ORT load | session | warm-up request | first inference | Init Duration | first response |\n|---|---|---|---|---|---|---|---|---|---|`,
	);
	for (const [label, dir] of bundles) {
		const zip =
			dir === referenceBundleDir
				? (zips.aws as string)
				: join(work, `${label.replace(/\W+/g, "-")}.zip`);
		const pkg =
			dir === referenceBundleDir
				? undefined
				: await packageFunction({
						bundle: dir,
						provider: "aws",
						out: zip,
						checkLimits: false,
					});
		const platform = await startFunctionPlatform({
			zip,
			memoryMb: 1024,
			concurrency: 1,
			idleTimeoutMs: 50,
			log: null,
		});
		try {
			for (let i = 0; i < coldRuns; i++) {
				const res = await predict(platform.url);
				if (res.status !== 200)
					throw new Error(`${label}: ${res.status} ${await res.text()}`);
				await res.arrayBuffer();
				while (platform.instances().length > 0)
					await new Promise((r) => setTimeout(r, 20));
			}
			const cold = platform.reports().filter((r) => r.coldStart);
			const c = (f: (r: (typeof cold)[number]) => number | undefined) =>
				summary(cold.map((r) => f(r) ?? Number.NaN));
			console.log(
				`| ${label} | ${pkg ? formatBytes(pkg.compressedBytes) : "see above"} | ${c((r) => r.coldStart?.spawnMs)} | ${c((r) => r.coldStart?.runtimeMs)} | ${c((r) => r.coldStart?.onnxRuntimeLoadMs)} | ${c((r) => r.coldStart?.sessionMs)} | ${c((r) => r.coldStart?.warmUpMs)} | ${c((r) => r.coldStart?.firstInferenceMs)} | ${c((r) => r.initDurationMs)} | ${c((r) => r.coldStart?.firstResponseMs)} |`,
			);
		} finally {
			await platform.stop();
		}
	}

	// ---- Warm latency against one vm-pattern server ----
	// The three targets take turns, block by block, so that the machine's load changes touch them alike.
	const rounds = values.quick ? 4 : 10;
	const perRound = values.quick ? 75 : 200;
	const trivialDir = join(work, "trivial-function");
	await mkdir(trivialDir);
	await writeFile(
		join(trivialDir, "index.mjs"),
		'export const handler = async () => ({ statusCode: 200, headers: { "content-type": "application/json" }, body: "{}" });\n',
	);
	const trivialZip = await zipFolder({
		dir: trivialDir,
		provider: "aws",
		out: join(work, "trivial.zip"),
	});
	const platform = await startFunctionPlatform({
		zip: zips.aws as string,
		concurrency: 1,
		log: null,
	});
	const floor = await startFunctionPlatform({
		zip: trivialZip.path,
		concurrency: 1,
		log: null,
	});
	const server = await buildServer({
		out: join(work, "vm-server"),
		bundle: referenceBundleDir,
	});
	const vm = await spawnUntilReady({
		command: [
			process.execPath,
			join(server.path, "mdp-serve.mjs"),
			"--port",
			"0",
			"--host",
			"127.0.0.1",
		],
	});
	const targets = [
		{ url: platform.url, ms: [] as number[] },
		{ url: floor.url, ms: [] as number[] },
		{ url: vm.url, ms: [] as number[] },
	];
	try {
		for (const target of targets)
			for (let i = 0; i < 100; i++)
				await (await predict(target.url)).arrayBuffer();
		for (let round = 0; round < rounds; round++)
			for (const target of targets)
				for (let i = 0; i < perRound; i++) {
					const t = performance.now();
					const res = await predict(target.url);
					await res.arrayBuffer();
					target.ms.push(performance.now() - t);
				}
	} finally {
		await platform.stop();
		await floor.stop();
		await vm.stop();
	}
	const p50p99 = (ms: number[]) => {
		const sorted = [...ms].sort((a, b) => a - b);
		return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
	};
	const serverless = p50p99(targets[0]?.ms ?? []);
	const nothing = p50p99(targets[1]?.ms ?? []);
	const direct = p50p99(targets[2]?.ms ?? []);
	const n = rounds * perRound;
	console.log(
		`\n## Warm latency, 1 record, sequential, ${n} requests each after 100 warm-up, interleaved in ${rounds} rounds (ms)\n\n| | p50 | p99 | p50 / vm |\n|---|---|---|---|\n| serverless (gateway → Runtime API → RIC → handler) | ${serverless.p50.toFixed(2)} | ${serverless.p99.toFixed(2)} | ${(serverless.p50 / direct.p50).toFixed(2)}× |\n| the same platform, a function that does nothing | ${nothing.p50.toFixed(2)} | ${nothing.p99.toFixed(2)} | ${(nothing.p50 / direct.p50).toFixed(2)}× |\n| one vm-pattern server (mdp-serve) | ${direct.p50.toFixed(2)} | ${direct.p99.toFixed(2)} | 1.00× |`,
	);

	// ---- Throughput at the concurrency limit ----
	const limit = 4;
	const seconds = values.quick ? 3 : 10;
	const tput = await startFunctionPlatform({
		zip: zips.aws as string,
		concurrency: limit,
		log: null,
	});
	try {
		for (const clients of [limit, limit * 2]) {
			// Warm all instances first.
			await Promise.all(
				Array.from({ length: limit }, () =>
					predict(tput.url).then((r) => r.arrayBuffer()),
				),
			);
			let ok = 0;
			let throttled = 0;
			const end = performance.now() + seconds * 1000;
			await Promise.all(
				Array.from({ length: clients }, async () => {
					while (performance.now() < end) {
						const res = await predict(tput.url);
						await res.arrayBuffer();
						if (res.status === 200) ok++;
						else if (res.status === 429) throttled++;
					}
				}),
			);
			console.log(
				`${clients === limit ? `\n## Throughput at the concurrency limit (${limit} instances, closed loop, ${seconds} s)\n\n| clients | ok req/s | 429/s |\n|---|---|---|\n` : ""}| ${clients} | ${(ok / seconds).toFixed(0)} | ${(throttled / seconds).toFixed(0)} |`,
			);
		}
	} finally {
		await tput.stop();
	}
} finally {
	await rm(work, { recursive: true, force: true });
}
