import type { BenchResults } from "./types.ts";

/** One of the seeds' claims, checked against the measured numbers. */
export interface Claim {
	claim: string;
	verdict: "confirmed" | "contradicted" | "not measured yet";
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
	const pending = (id: "vm" | "container" | "serverless", claim: string) => {
		const t = results.targets[id];
		claims.push({
			claim,
			verdict: "not measured yet",
			evidence: t?.not_measured
				? `${id}: ${t.not_measured}`
				: `${id}: not in this run`,
		});
	};
	pending(
		"vm",
		"VMs cost more and add overhead (hypervisor overhead cannot be measured here: no KVM)",
	);
	pending("container", "Containers start fast and scale to zero");
	pending("serverless", "Serverless scales, has cold starts and size limits");
	return claims;
}
