import type { Artifact, Deployment } from "@mdp/core";

// ---- Scenarios (data: scenarios.ts) ----

/** What one request carries. */
export type Payload = "predict-1" | "predict-32" | "infer-1";

/** A load scenario, in k6's vocabulary so the same data drives k6 and the embedded driver. */
export type Scenario =
	| {
			id: string;
			executor: "constant-arrival-rate";
			rate: number;
			durationS: number;
			payload: Payload;
			maxVUs: number;
	  }
	| {
			id: string;
			executor: "ramping-arrival-rate";
			startRate: number;
			stages: { target: number; durationS: number }[];
			payload: Payload;
			maxVUs: number;
	  }
	| {
			id: string;
			executor: "constant-vus";
			vus: number;
			durationS: number;
			payload: Payload;
	  };

// ---- Targets ----

/** How the harness reaches a deployed target. */
export type Endpoint =
	| { kind: "http"; url: string }
	/** In-process: the application calls the predictor itself (static library). */
	| { kind: "in-process"; predict(records: unknown[]): Promise<unknown> };

/** A target deployed for measurement; `teardown` must leave no process or temp dir behind. */
export interface DeployedTarget {
	endpoint: Endpoint;
	/** PIDs of every process the target runs (servers, balancers, containers), for CPU and memory. */
	pids(): number[];
	teardown(): Promise<void>;
}

/** A pattern's {@link Deployment} as the harness measures it: its URL, the PIDs of its units, its stop. */
export function fromDeployment(deployment: Deployment): DeployedTarget {
	return {
		endpoint: { kind: "http", url: deployment.url },
		pids: () =>
			deployment.units().flatMap((u) => (u.pid === undefined ? [] : [u.pid])),
		teardown: () => deployment.stop(),
	};
}

/**
 * Whether a target works with the network cut: `true` or `false` when measured, `null` when it could not
 * be measured here (then `method` says why). "Not measured" is never reported as a measured "no".
 */
export interface OfflineResult {
	works: boolean | null;
	method: string;
}

/** Cold start of one fresh deployment, split by phase (ms). */
export interface ColdStart {
	total_ms: number;
	phases: Record<string, number>;
}

/** Context given to targets: where to put artifacts, which bundle, how to report progress. */
export interface TargetContext {
	bundle: string;
	workDir: string;
	/** Prefix for commands of the system under test (`taskset -c 0`), so every target gets the same core. */
	serverWrapper: string[];
	progress(message: string): void;
}

/**
 * A deployment pattern as the harness sees it. Adding a pattern is one module implementing this
 * (see bench/README.md): build its artifact, deploy it, say which processes to watch, measure its cold
 * start and whether it works offline, and tear it down.
 */
export interface BenchTarget {
	/** Key in results.json (`static`, `http`, `vm`, …). */
	id: string;
	/** The pattern it belongs to (an id of `PATTERNS`, a column of the report). */
	pattern: string;
	title: string;
	/** Why it cannot be measured here, if it cannot (results say "not measured: …"). */
	unavailable?: string;
	build(ctx: TargetContext): Promise<Artifact[]>;
	deploy(ctx: TargetContext): Promise<DeployedTarget>;
	coldStart(ctx: TargetContext): Promise<ColdStart>;
	offline(ctx: TargetContext): Promise<OfflineResult>;
	/** Removes what the target left outside the run's temp dir (images on an engine); called once at the end. */
	dispose?(): Promise<void>;
	/** Extra figures only this target has (the executable's records/s on 10,000 records, …). */
	extras?(ctx: TargetContext): Promise<Record<string, number | string>>;
	/**
	 * Replicated patterns: deploys the fleet as `deploy` does, with a view of its instances, for the
	 * kill-under-load scenario. Its `teardown` must leave nothing behind.
	 */
	deployFleet?(ctx: TargetContext): Promise<FleetUnderTest>;
}

/** A replicated deployment under test: its endpoint, its instances' PIDs and its health. */
export interface FleetUnderTest extends DeployedTarget {
	endpoint: { kind: "http"; url: string };
	/** Instances the fleet keeps. */
	replicas: number;
	/** PIDs of the serving instances now (the processes a fault kills). */
	instancePids(): Promise<number[]>;
	/** Instances ready in the balancer's pool, and instances replaced since the fleet started. */
	health(): Promise<{ ready: number; replacements: number }>;
}

/** One instance killed (SIGKILL) under a bounded open-loop load: what the clients saw, how long healing took. */
export interface KillUnderLoadResult {
	/** Instances behind the balancer before the kill. */
	instances: number;
	offered_rps: number;
	duration_s: number;
	kill_at_s: number;
	requests: number;
	/** Requests answered with a non-2xx status or not answered at all. */
	failed: number;
	/** Arrivals not sent because every VU was busy. */
	dropped: number;
	/** When failed requests ended, ms after the kill (at most 50). */
	failed_after_kill_ms: number[];
	/** Latency over the whole run, from the intended send time. */
	p50_ms: number;
	p99_ms: number;
	max_ms: number;
	/** The fleet was whole again (all instances ready, the victim replaced) within the bound. */
	recovered: boolean;
	/** Kill to whole again, ms; null when it did not recover within the bound. */
	recovery_ms: number | null;
	replacements: number;
	method: string;
}

// ---- Results (results.json) ----

/** One load run's outcome. */
import type { TailEvidence } from "./measure/server-evidence.ts";

export interface LoadResult {
	scenario: string;
	/** Offered arrival rate (open loop) or null (closed loop). */
	offered_rps: number | null;
	achieved_rps: number;
	requests: number;
	errors: number;
	/** Open loop: arrivals not sent because every VU was busy (k6's dropped_iterations). */
	dropped: number;
	p50_ms: number;
	p90_ms: number;
	p99_ms: number;
	p999_ms: number;
	max_ms: number;
	/** Driver self-check: how late sends left compared with their schedule (p99, ms). */
	schedule_lag_p99_ms: number;
	/** CPU seconds the target's processes used during the run. */
	target_cpu_s: number;
	/** CPU seconds the driver (this process) used during the run. */
	driver_cpu_s: number;
	/** Steal time during the run, % of CPU time. */
	steal_pct: number;
}

/** A median with its spread over rounds. */
export interface Stat {
	median: number;
	min: number;
	max: number;
	rounds: number[];
}

/** What results.json holds for one target. */
export interface TargetResult {
	title: string;
	pattern: BenchTarget["pattern"];
	/** Set when the target could not be measured, with the reason. */
	not_measured?: string;
	parity?: { checked: number; mismatches: number; tolerance: number };
	latency?: { light: LatencySummary; load70: LatencySummary };
	/**
	 * Where the tail at 70% load comes from, from the server's own /metrics around that run (one-server
	 * targets whose server exports Node's process metrics): GC pauses, event-loop delay, time inside the app.
	 */
	tail?: Record<keyof TailEvidence, Stat>;
	throughput?: {
		saturation_rps: Stat;
		max_rps_under_slo: Stat;
		slo_p99_ms: number;
		/** Rows per second with 32 records per request. */
		batch32_rows_per_s?: Stat;
		/** Saturation with the OIP infer payload (HTTP targets). */
		oip_infer_rps?: Stat;
	};
	coldStart?: { total_ms: Stat; phases: Record<string, Stat>; runs: number };
	footprint?: {
		peak_rss_mb: number;
		artifact_bytes: number;
		artifacts: Artifact[];
		cpu_s_per_1000: Stat;
		/** HTTP targets: CPU of every unit per request at the fixed rate of the `cpu` scenario (µs). */
		cpu_us_per_request?: Stat;
	};
	offline?: OfflineResult;
	cost?: { usd_per_million_predictions: number; basis: string };
	extras?: Record<string, number | string>;
	/** Ratios against the ceilings measured in the same run. */
	ratios?: Record<string, number>;
	raw?: Record<string, LoadResult[]>;
	/** Faults injected under load (replicated patterns). */
	faults?: { kill_instance?: KillUnderLoadResult };
	/** Driver saturated its own core in some run: the figure is the driver's limit, not the target's. */
	flags?: string[];
}

/** Latency at one offered rate: medians over rounds. */
export interface LatencySummary {
	rate_rps: number;
	p50_ms: Stat;
	p90_ms: Stat;
	p99_ms: Stat;
	p999_ms: Stat;
	errors: number;
	dropped: number;
}

/** results.json. */
export interface BenchResults {
	schemaVersion: 1;
	startedAt: string;
	finishedAt: string;
	mode: "quick" | "full";
	rounds: number;
	machine: {
		cpu: string;
		cores: number;
		memory_gb: number;
		kernel: string;
		steal_pct: number;
		high_steal: boolean;
		pinning: string;
	};
	driver: {
		name: string;
		version: string;
		note: string;
		/** The latency floor at a light rate: the driver beside a minimal raw-socket client, same server. */
		floor?: DriverFloor;
	};
	versions: Record<string, string>;
	ceilings: {
		inference: {
			batch1: { runs_per_s: Stat; p50_us: Stat; p99_us: Stat };
			batch32: { runs_per_s: Stat; rows_per_s: Stat; p50_us: Stat };
		};
		http: {
			saturation_rps: Stat;
			p50_ms: Stat;
			p99_ms: Stat;
			/** Target CPU per request at the fixed rate of the `cpu` scenario (µs). */
			cpu_us_per_request?: Stat;
		};
	};
	targets: Record<string, TargetResult>;
	prices: { date: string; note: string };
	/** The model-size sweep (`--sweep-model-size`): cold start and footprint as the model grows. */
	sweep?: SweepPoint[];
}

/** One model size of the sweep: each target's cold start and footprint with a synthetic model of it. */
export interface SweepPoint {
	model_bytes: number;
	targets: Record<
		string,
		{
			/** Median cold start to first prediction (ms); NaN when it could not be deployed. */
			cold_start_ms: number;
			/** What the pattern ships for this model (bytes). */
			artifact_bytes: number;
			/** Why it could not be deployed (a provider size limit, for instance). */
			error?: string;
		}
	>;
}

/**
 * The embedded driver beside the reference raw-socket client at a light rate on one server, alternated:
 * what the reference sees is the server and the machine, the paired difference is the driver's own cost.
 */
export interface DriverFloor {
	rate_rps: number;
	/** The server both clients drove. */
	target: string;
	slices: number;
	slice_s: number;
	/** Embedded driver, open loop, latency from the intended send time. */
	driver: { p50_ms: Stat; p99_ms: Stat };
	/** One raw keep-alive socket, latency from the write. */
	reference: { p50_ms: Stat; p99_ms: Stat };
	/** Driver minus reference, slice by slice. */
	extra_p50_ms: Stat;
	extra_p99_ms: Stat;
}

/** One client's figures in the agreement check (`mdp-bench agree`). */
export interface AgreementRow {
	load: string;
	client: string;
	/** How the client times latency. */
	note: string;
	rps: Stat;
	p50_ms: Stat;
	p99_ms: Stat;
	/** CPU the client used, in cores. */
	client_cores: Stat;
}

/** The agreement check: the embedded driver against wrk (and k6 where installed) on one server, one run. */
export interface Agreement {
	date: string;
	machine: {
		cpu: string;
		cores: number;
		memory_gb: number;
		kernel: string;
		pinning: string;
	};
	target: string;
	slices: number;
	slice_s: number;
	rows: AgreementRow[];
	/** Embedded driver minus the reference client at the light rate, slice by slice (ms). */
	driver_extra_light_ms: { p50: Stat; p99: Stat };
	/** Clients that could not take part, and why. */
	missing: string[];
}
