import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBundle, readGoldenSet } from "@mdp/core";
import { runScenario } from "./load/embedded-driver.ts";
import { percentileMs } from "./load/histogram.ts";
import { createHttpSend } from "./load/http-send.ts";
import {
	measureRun,
	payloadBodies,
	type Workload,
} from "./load/measure-run.ts";
import { runReferenceClient } from "./load/reference-client.ts";
import { findK6 } from "./load/run-k6.ts";
import { findWrk, runWrk } from "./load/run-wrk.ts";
import { describeMachine, pinDriver } from "./measure/proc.ts";

import { toStat } from "./summarize.ts";
import { serve } from "./targets/http.ts";
import type {
	Agreement,
	AgreementRow,
	DriverFloor,
	Scenario,
	Stat,
} from "./types.ts";

/** The light rate of the floor check, as the `light` scenario's. */
export const FLOOR_RATE = 200;

const cores = (cpuS: number, elapsedS: number) => cpuS / elapsedS;

/**
 * The driver's floor at a light rate: the embedded driver (open loop, latency from the intended send time)
 * and the reference raw-socket client (latency from the write) alternated on the same server, `slices`
 * times `sliceS` seconds each. What the reference sees is the server and the machine; the paired
 * difference, slice by slice, is what the driver itself adds.
 *
 * @example
 * const floor = await measureDriverFloor({ url: server.url, workload, slices: 2, sliceS: 2 });
 * floor.extra_p50_ms.median; // ms the driver adds at p50
 */
export async function measureDriverFloor(options: {
	url: string;
	workload: Workload;
	target?: string;
	slices: number;
	sliceS: number;
	rate?: number;
}): Promise<DriverFloor> {
	const rate = options.rate ?? FLOOR_RATE;
	const { path, bodies } = payloadBodies("predict-1", options.workload);
	const url = new URL(path, options.url).href;
	const driver = { p50: [] as number[], p99: [] as number[] };
	const reference = { p50: [] as number[], p99: [] as number[] };
	for (let slice = 0; slice < options.slices; slice++) {
		// Alternate which goes first, so that a drift of the machine does not favour one.
		const order = slice % 2 ? ["reference", "driver"] : ["driver", "reference"];
		for (const who of order) {
			if (who === "driver") {
				const client = createHttpSend(url, bodies, 64);
				try {
					const run = await runScenario(
						{
							id: "floor",
							executor: "constant-arrival-rate",
							rate,
							durationS: options.sliceS,
							payload: "predict-1",
							maxVUs: 64,
						},
						client.send,
					);
					driver.p50.push(percentileMs(run.latency, 50));
					driver.p99.push(percentileMs(run.latency, 99));
				} finally {
					client.close();
				}
			} else {
				const run = await runReferenceClient({
					url,
					bodies,
					rate,
					durationS: options.sliceS,
				});
				reference.p50.push(percentileMs(run.latency, 50));
				reference.p99.push(percentileMs(run.latency, 99));
			}
		}
	}
	const diff = (a: number[], b: number[]) => a.map((x, i) => x - (b[i] ?? 0));
	return {
		rate_rps: rate,
		target: options.target ?? url,
		slices: options.slices,
		slice_s: options.sliceS,
		driver: { p50_ms: toStat(driver.p50), p99_ms: toStat(driver.p99) },
		reference: { p50_ms: toStat(reference.p50), p99_ms: toStat(reference.p99) },
		extra_p50_ms: toStat(diff(driver.p50, reference.p50)),
		extra_p99_ms: toStat(diff(driver.p99, reference.p99)),
	};
}

/** One client's load run in an agreement slice. */
interface Sample {
	rps: number;
	p50: number;
	p99: number;
	cores: number;
}

/**
 * The agreement check: on one server, in one run, the embedded driver against wrk (and k6 when installed)
 * at saturation (closed loop, `vus` connections), and against the reference raw-socket client and wrk
 * paced by a think time at a light rate; `slices` rounds in rotating order, `sliceS` seconds per run.
 * Every figure is a median with min–max over the slices.
 *
 * @example
 * const agreement = await runAgreement({ url: server.url, workload, slices: 5, sliceS: 3 });
 * console.log(renderAgreement(agreement));
 */
export async function runAgreement(options: {
	url: string;
	workload: Workload;
	target: string;
	pinning: string;
	slices: number;
	sliceS: number;
	vus?: number;
	lightRate?: number;
	progress?: (message: string) => void;
}): Promise<Agreement> {
	const vus = options.vus ?? 32;
	const rate = options.lightRate ?? FLOOR_RATE;
	const progress = options.progress ?? (() => {});
	const wrk = findWrk();
	const k6 = findK6();
	const { path, bodies } = payloadBodies("predict-1", options.workload);
	const url = new URL(path, options.url).href;
	const endpoint = { kind: "http", url: options.url } as const;
	const saturation = {
		id: "agree-saturation",
		executor: "constant-vus",
		vus,
		durationS: options.sliceS,
		payload: "predict-1",
	} as const;
	const light = {
		id: "agree-light",
		executor: "constant-arrival-rate",
		rate,
		durationS: options.sliceS,
		payload: "predict-1",
		maxVUs: 64,
	} as const;
	/** A run of the harness's own path (the embedded driver, or k6 when given) on this target. */
	const viaMeasureRun =
		(scenario: Scenario, k6Bin?: string) => async (): Promise<Sample> => {
			const r = await measureRun({
				scenario,
				endpoint,
				workload: options.workload,
				targetPids: [],
				...(k6Bin ? { k6: k6Bin } : {}),
			});
			return {
				rps: r.achieved_rps,
				p50: r.p50_ms,
				p99: r.p99_ms,
				cores: cores(r.driver_cpu_s, r.requests / Math.max(r.achieved_rps, 1)),
			};
		};
	/** A run of wrk on this target (`delayMs`: think time between requests on a connection). */
	const viaWrk =
		(wrkBin: string, connections: number, delayMs?: number) =>
		async (): Promise<Sample> => {
			const r = await runWrk({
				wrk: wrkBin,
				url,
				bodies,
				connections,
				durationS: options.sliceS,
				...(delayMs === undefined ? {} : { delayMs }),
			});
			return {
				rps: r.rps,
				p50: r.p50_ms,
				p99: r.p99_ms,
				cores: cores(r.cpu_s, r.elapsedS),
			};
		};
	type Client = {
		load: string;
		client: string;
		note: string;
		run: () => Promise<Sample>;
	};
	const clients: Client[] = [
		{
			load: `saturation (closed loop, ${vus} connections)`,
			client: `embedded driver (${vus} VUs)`,
			note: "latency from each send",
			run: viaMeasureRun(saturation),
		},
		...(wrk
			? [
					{
						load: `saturation (closed loop, ${vus} connections)`,
						client: `wrk -t1 -c${vus}`,
						note: "latency from each send",
						run: viaWrk(wrk, vus),
					},
				]
			: []),
		...(k6
			? [
					{
						load: `saturation (closed loop, ${vus} connections)`,
						client: `k6 (${vus} VUs)`,
						note: "latency from each send",
						run: viaMeasureRun(saturation, k6),
					},
				]
			: []),
		{
			load: `light (${rate} req/s)`,
			client: "embedded driver (open loop)",
			note: "latency from the intended send time",
			run: viaMeasureRun(light),
		},
		{
			load: `light (${rate} req/s)`,
			client: "reference: one raw socket",
			note: "latency from the write: the floor",
			run: async () => {
				const cpu = process.cpuUsage();
				const r = await runReferenceClient({
					url,
					bodies,
					rate,
					durationS: options.sliceS,
				});
				const used = process.cpuUsage(cpu);
				return {
					rps: (r.requests - r.errors) / r.elapsedS,
					p50: percentileMs(r.latency, 50),
					p99: percentileMs(r.latency, 99),
					cores: cores((used.user + used.system) / 1e6, r.elapsedS),
				};
			},
		},
		...(wrk
			? [
					{
						load: `light (${rate} req/s)`,
						client: `wrk -t1 -c1, ${Math.round(1000 / rate)} ms think time`,
						note: "paced closed loop (wrk has no arrival rate): a little under the rate",
						run: viaWrk(wrk, 1, 1000 / rate),
					},
				]
			: []),
		...(k6
			? [
					{
						load: `light (${rate} req/s)`,
						client: "k6 (constant-arrival-rate)",
						note: "latency from each send",
						run: viaMeasureRun(light, k6),
					},
				]
			: []),
	];
	// Warm-up (not reported): JIT, the server's session arena, connections.
	await measureRun({
		scenario: {
			id: "warmup",
			executor: "constant-vus",
			vus: 8,
			durationS: 2,
			payload: "predict-1",
		},
		endpoint,
		workload: options.workload,
		targetPids: [],
	});
	const samples = new Map<Client, Sample[]>(clients.map((c) => [c, []]));
	const groups = [...new Set(clients.map((c) => c.load))];
	for (let slice = 0; slice < options.slices; slice++) {
		for (const load of groups) {
			const group = clients.filter((c) => c.load === load);
			for (let i = 0; i < group.length; i++) {
				const c = group[(i + slice) % group.length] as Client;
				progress(
					`agreement slice ${slice + 1}/${options.slices}: ${c.client}, ${load}`,
				);
				samples.get(c)?.push(await c.run());
			}
		}
	}
	const stat = (list: Sample[], key: keyof Sample): Stat =>
		toStat(list.map((s) => s[key]));
	const rows: AgreementRow[] = clients.map((c) => {
		const list = samples.get(c) ?? [];
		return {
			load: c.load,
			client: c.client,
			note: c.note,
			rps: stat(list, "rps"),
			p50_ms: stat(list, "p50"),
			p99_ms: stat(list, "p99"),
			client_cores: stat(list, "cores"),
		};
	});
	const driverLight =
		samples.get(
			clients.find((c) =>
				c.client.startsWith("embedded driver (open"),
			) as Client,
		) ?? [];
	const referenceLight =
		samples.get(
			clients.find((c) => c.client.startsWith("reference")) as Client,
		) ?? [];
	const diff = (key: "p50" | "p99") =>
		toStat(
			driverLight.map(
				(s, i) => s[key] - (referenceLight[i]?.[key] ?? Number.NaN),
			),
		);
	const machine = describeMachine();
	return {
		date: new Date().toISOString(),
		machine: { ...machine, pinning: options.pinning },
		target: options.target,
		slices: options.slices,
		slice_s: options.sliceS,
		rows,
		driver_extra_light_ms: { p50: diff("p50"), p99: diff("p99") },
		missing: [
			...(wrk ? [] : ["wrk: not on PATH (apt-get install wrk)"]),
			...(k6
				? []
				: [
						"k6: not installed and not installable here (npm's `k6` is a placeholder; no Debian package); set K6_BIN to add its rows",
					]),
		],
	};
}

/**
 * The agreement as Markdown: a dated machine line, then one row per client with medians and min–max
 * over the slices, the driver's paired excess over the reference at the light rate, and what was missing.
 *
 * @example
 * renderAgreement(agreement).split("\n")[0]; // "Agreement of the load clients, 2026-11-24 …"
 */
export function renderAgreement(a: Agreement): string {
	const f = (s: Stat, digits: number) =>
		!Number.isFinite(s.median)
			? "n/a"
			: s.rounds.length > 1
				? `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`
				: s.median.toFixed(digits);
	const m = a.machine;
	return [
		`Agreement of the load clients, ${a.date.slice(0, 16).replace("T", " ")} UTC: ${a.target}; ${a.slices} slices of ${a.slice_s} s per client, rotating order; median (min–max) over slices.`,
		`Machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gb} GiB, Linux ${m.kernel}; ${m.pinning}.`,
		"",
		"| load | client | req/s | p50 ms | p99 ms | client CPU (cores) | latency timed |",
		"| --- | --- | ---: | ---: | ---: | ---: | --- |",
		...a.rows.map(
			(r) =>
				`| ${r.load} | ${r.client} | ${f(r.rps, 0)} | ${f(r.p50_ms, 3)} | ${f(r.p99_ms, 2)} | ${f(r.client_cores, 2)} | ${r.note} |`,
		),
		"",
		`Embedded driver minus reference at the light rate, slice by slice: p50 ${f(a.driver_extra_light_ms.p50, 3)} ms, p99 ${f(a.driver_extra_light_ms.p99, 2)} ms.`,
		...(a.missing.length
			? ["", ...a.missing.map((x) => `Not in this table: ${x}.`)]
			: []),
		"",
	].join("\n");
}

let cleanup: (() => Promise<void>) | undefined;

/** Stops the server and removes the temp dir of an agreement run in progress (Ctrl-C). */
export async function cleanupAgreement(): Promise<void> {
	await cleanup?.();
}

/**
 * `mdp-bench agree`: builds the deployable server, starts `mdp-core serve` with the model on the server
 * core (the driver on the other, as in a run), runs {@link runAgreement} and stops everything.
 *
 * @example
 * const agreement = await agreeOnServer({ bundle: referenceBundleDir, slices: 5, sliceS: 3 });
 */
export async function agreeOnServer(options: {
	bundle: string;
	slices: number;
	sliceS: number;
	progress?: (message: string) => void;
}): Promise<Agreement> {
	const progress = options.progress ?? (() => {});
	const workDir = await mkdtemp(join(tmpdir(), "mdp-bench-agree-"));
	let server: Awaited<ReturnType<typeof serve>> | undefined;
	cleanup = async () => {
		await server?.stop().catch(() => {});
		server = undefined;
		await rm(workDir, { recursive: true, force: true });
	};
	try {
		const machine = describeMachine();
		const pinning = pinDriver(machine.cores);
		const ctx = {
			bundle: options.bundle,
			workDir,
			serverWrapper: pinning.serverWrapper,
			progress,
		};
		const workload = {
			golden: await readGoldenSet(join(options.bundle, "golden.jsonl")),
			manifest: (await loadBundle(options.bundle)).manifest,
		};
		server = await serve(ctx, []);
		return await runAgreement({
			url: server.url,
			workload,
			target:
				"one `mdp-core serve` from the deployable server bundle, reference model, adaptive batching on, /predict with 1 record",
			pinning: pinning.description,
			slices: options.slices,
			sliceS: options.sliceS,
			progress,
		});
	} finally {
		await cleanup();
		cleanup = undefined;
	}
}
