import type { BenchResults, TargetResult } from "./types.ts";

/** One of the seeds' claims, checked against the measured numbers. */
export interface Claim {
	claim: string;
	verdict:
		| "confirmed"
		| "contradicted"
		| "not measured yet"
		| "not measurable here";
	evidence: string;
}

const f = (x: number | undefined, digits = 2) =>
	x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(digits);

/** Checks the claims of the book's chapter against this run; a claim with no data says so. */
export function checkClaims(results: BenchResults): Claim[] {
	const s = results.targets.static;
	const h = results.targets.http;
	const claims: Claim[] = [];
	const measured = (t?: { not_measured?: string; latency?: unknown }) =>
		t && !t.not_measured && t.latency;

	if (measured(s) && measured(h)) {
		const sp = s?.latency?.light.p50_ms.median ?? Number.NaN;
		const hp = h?.latency?.light.p50_ms.median ?? Number.NaN;
		const ss = s?.throughput?.saturation_rps.median ?? Number.NaN;
		const hs = h?.throughput?.saturation_rps.median ?? Number.NaN;
		claims.push({
			claim: "Static deployment is the fastest",
			verdict: sp < hp && ss > hs ? "confirmed" : "contradicted",
			evidence: `p50 at ${f(s?.latency?.light.rate_rps, 0)} req/s: static ${f(sp, 3)} ms vs http ${f(hp, 3)} ms; saturation: static ${f(ss, 0)} vs http ${f(hs, 0)} predictions/s`,
		});
		claims.push({
			claim: "Dynamic deployment adds network latency",
			verdict: hp > sp ? "confirmed" : "contradicted",
			evidence: `+${f(hp - sp, 3)} ms at p50 and +${f((h?.latency?.light.p99_ms.median ?? Number.NaN) - (s?.latency?.light.p99_ms.median ?? Number.NaN), 3)} ms at p99 (light load, loopback: no real network, so this is the HTTP stack alone)`,
		});
	} else {
		claims.push({
			claim: "Static deployment is the fastest",
			verdict: "not measured yet",
			evidence: "needs both the static and the http targets",
		});
		claims.push({
			claim: "Dynamic deployment adds network latency",
			verdict: "not measured yet",
			evidence: "needs both the static and the http targets",
		});
	}
	if (s && !s.not_measured && s.offline) {
		claims.push({
			claim: "Static deployment works offline",
			verdict:
				s.offline.works === null
					? "not measured yet"
					: s.offline.works
						? "confirmed"
						: "contradicted",
			evidence: s.offline.method,
		});
	}
	if (h && !h.not_measured && h.offline) {
		claims.push({
			claim: "A dynamic deployment needs the network to be reached",
			verdict:
				h.offline.works === null
					? "not measured yet"
					: h.offline.works
						? "contradicted"
						: "confirmed",
			evidence: h.offline.method,
		});
	}
	const live = (id: string) => {
		const t = results.targets[id];
		return t && !t.not_measured ? t : undefined;
	};
	const why = (id: string) => {
		const t = results.targets[id];
		return t?.not_measured
			? `${id}: ${t.not_measured}`
			: `${id}: not in this run`;
	};
	const num = (t: TargetResult | undefined, key: string) => {
		const v = t?.extras?.[key];
		return typeof v === "number" && Number.isFinite(v) ? v : undefined;
	};
	const vm = live("vm");
	const container = live("container");
	const serverless = live("serverless");

	claims.push({
		claim: "Virtualisation adds overhead",
		verdict: "not measurable here",
		evidence:
			"no hypervisor on these machines (KVM unusable): vm instances are processes, labelled 'process-isolated instances, no hypervisor'; nothing here measures a VM's overhead",
	});
	const vmCost = vm?.cost?.usd_per_million_predictions;
	const staticCost =
		s && !s.not_measured ? s.cost?.usd_per_million_predictions : undefined;
	if (vmCost !== undefined && staticCost !== undefined) {
		claims.push({
			claim: "VMs cost more than running the model inside the application",
			verdict: vmCost > staticCost ? "confirmed" : "contradicted",
			evidence: `$${f(vmCost, 4)} vs $${f(staticCost, 4)} per million predictions at each one's measured throughput (same instance price: the VM fleet pays for whole instances, with a balancer in front)`,
		});
	} else {
		claims.push({
			claim: "VMs cost more than running the model inside the application",
			verdict: "not measured yet",
			evidence: vm ? "static not in this run" : why("vm"),
		});
	}

	// A container's own start (scale from zero: one container, request held by the balancer) when measured;
	// otherwise the whole deployment's, balancer and every replica included.
	const containerCold =
		num(container, "cold_start_from_zero_ms") ??
		container?.coldStart?.total_ms.median;
	const vmCold = vm?.coldStart?.total_ms.median;
	if (container && containerCold !== undefined) {
		const memory = (t?: TargetResult) =>
			(t?.footprint?.peak_rss_mb ?? Number.NaN) / (num(t, "replicas") ?? 1);
		claims.push({
			claim: "Containers start almost instantly",
			verdict: containerCold < 1000 ? "confirmed" : "contradicted",
			evidence: `a container from zero to its first prediction in ${f(containerCold, 0)} ms${vmCold !== undefined ? ` (a whole vm fleet from start: ${f(vmCold, 0)} ms)` : ""}; the goal is under 1 s`,
		});
		claims.push({
			claim: "Containers are lighter than VMs",
			verdict:
				vm === undefined
					? "not measured yet"
					: memory(container) <= memory(vm) * 1.1
						? "confirmed"
						: "contradicted",
			evidence:
				vm === undefined
					? why("vm")
					: `${f(memory(container), 0)} MB per container vs ${f(memory(vm), 0)} MB per vm instance (process-isolated, no hypervisor: a real VM adds a guest kernel and OS on top)`,
		});
		const zero = num(container, "cold_start_from_zero_ms");
		claims.push({
			claim: "Containers scale to zero",
			verdict: zero === undefined ? "not measured yet" : "confirmed",
			evidence:
				zero === undefined
					? "no scale-from-zero figure in this run"
					: `after the idle timeout no container runs; the next request was held and served in ${f(zero, 0)} ms`,
		});
	} else {
		for (const claim of [
			"Containers start almost instantly",
			"Containers are lighter than VMs",
			"Containers scale to zero",
		])
			claims.push({
				claim,
				verdict: "not measured yet",
				evidence: why("container"),
			});
	}

	if (serverless) {
		const cold = serverless.coldStart?.total_ms.median;
		const warm = serverless.latency?.light.p50_ms.median;
		claims.push({
			claim: "Serverless has cold starts",
			verdict:
				cold !== undefined && warm !== undefined && cold > 5 * warm
					? "confirmed"
					: "contradicted",
			evidence: `first request to a new instance ${f(cold, 0)} ms against a warm p50 of ${f(warm, 2)} ms`,
		});
		const zipBytes = num(serverless, "zip_unzipped_bytes");
		const limit = num(serverless, "zip_unzipped_limit_bytes");
		const sweepLimit = results.sweep?.find(
			(p) => p.targets.serverless?.error !== undefined,
		);
		claims.push({
			claim: "Serverless has package size limits",
			verdict:
				sweepLimit || (zipBytes !== undefined && limit !== undefined)
					? "confirmed"
					: "not measured yet",
			evidence: sweepLimit
				? `a ${f(sweepLimit.model_bytes / 1e6, 0)} MB model could not be packaged: ${sweepLimit.targets.serverless?.error}`
				: zipBytes !== undefined && limit !== undefined
					? `the reference package is ${f(zipBytes / 1e6, 1)} MB unzipped of a ${f(limit / 1e6, 0)} MB limit`
					: "no package size in this run",
		});
		const throttled = num(serverless, "throttled_at_limit");
		claims.push({
			claim: "Serverless scales, up to a concurrency limit",
			verdict: throttled === undefined ? "not measured yet" : "confirmed",
			evidence:
				throttled === undefined
					? "no throttling figure in this run"
					: `parallel requests got parallel instances up to the limit; past it ${f(throttled, 0)} requests were throttled (429)`,
		});
		claims.push({
			claim: "Serverless costs only when used",
			verdict: "confirmed",
			evidence: `priced per request and GB-second: $${f(serverless.cost?.usd_per_million_predictions, 4)} per million predictions, nothing while idle (instances are reaped: scale to zero)`,
		});
	} else {
		for (const claim of [
			"Serverless has cold starts",
			"Serverless has package size limits",
			"Serverless scales, up to a concurrency limit",
			"Serverless costs only when used",
		])
			claims.push({
				claim,
				verdict: "not measured yet",
				evidence: why("serverless"),
			});
	}

	const kills = [vm, container].flatMap((t) =>
		t?.faults?.kill_instance
			? [[t.pattern, t.faults.kill_instance] as const]
			: [],
	);
	claims.push({
		claim:
			"Replication keeps the service up when an instance dies (the balancer routes around it, the fleet replaces it)",
		verdict: kills.length
			? kills.every(([, k]) => k.failed === 0 && k.recovered)
				? "confirmed"
				: "contradicted"
			: "not measured yet",
		evidence: kills.length
			? kills
					.map(
						([id, k]) =>
							`${id}: SIGKILL of 1 of ${k.instances} instances under ${k.offered_rps} req/s: ${k.failed} failed of ${k.requests.toLocaleString("en-US")} requests, p99 ${f(k.p99_ms, 1)} ms (max ${f(k.max_ms, 0)} ms) over the run; ${k.recovered ? `back to ${k.instances} ready instances ${f(k.recovery_ms ?? Number.NaN, 0)} ms after the kill` : "not whole again within the bound"}`,
					)
					.join("; ")
			: vm
				? "no kill-under-load figure in this run"
				: why("vm"),
	});

	const scaleOut = [vm, container]
		.map((t) => [t?.pattern, num(t, "scale_out_ms")] as const)
		.filter(([, v]) => v !== undefined);
	claims.push({
		claim:
			"Autoscaling in the VM and container patterns has noticeable latency",
		verdict: scaleOut.length ? "confirmed" : "not measured yet",
		evidence: scaleOut.length
			? scaleOut
					.map(
						([id, v]) =>
							`${id}: ${f(v, 0)} ms from the scale decision to the new unit serving`,
					)
					.join("; ")
			: "no scale-out figure in this run",
	});
	return claims;
}
