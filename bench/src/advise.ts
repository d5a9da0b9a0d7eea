import { CoreError } from "@mdp/core";
import type { Prices } from "./measure/cost.ts";
import type { BenchResults, TargetResult } from "./types.ts";

/** A workload to place: its traffic, its latency objective, its model and whether it must run offline. */
export interface Profile {
	/** Mean request rate (requests per second), one prediction per request. */
	rateRps: number;
	/** Latency objective: p99 in ms. */
	p99Ms: number;
	/** Size of the model file; default: the size of the bundle that was measured. */
	modelBytes?: number;
	/** Must predict with no network (on a device, in a plane, in a locked-down site). */
	offline?: boolean;
}

/** One pattern's fit for a profile, with the figures behind it. */
export interface Advice {
	pattern: string;
	/** Meets the objective, the size limits and the offline need, by the measured figures. */
	fits: boolean;
	/** Estimated cost per month (730 h) at the profile's rate, USD. */
	usdPerMonth: number;
	/** Estimated p99 at the profile's rate, ms. */
	p99Ms: number;
	/** Serving units the rate needs (instances, containers, concurrent functions). */
	units: number;
	/** Why, in sentences that quote the measured figures. */
	reasons: string[];
	/** Figures that were not measured at this profile and were extrapolated, with how. */
	extrapolated: string[];
}

/** Limits that rule a pattern out for a model size (a function package's unzipped size, for instance). */
export interface SizeLimit {
	pattern: string;
	/** Largest model the pattern can ship under this limit, bytes. */
	bytes: number;
	/** What the limit is and where it comes from. */
	what: string;
	/** The provider whose limit it is, for a pattern sold by several (serverless). */
	provider?: string;
}

/** One provider's package limits, as `@mdp/serverless` tabulates them (`SIZE_LIMITS`). */
export interface ProviderPackageLimit {
	provider: string;
	compressedBytes?: number;
	uncompressedBytes?: number;
	scope: string;
	source: string;
	read: string;
}

/** What the serverless package carries beside the model, from a run's figures (bytes; 0 when unmeasured). */
function restOfPackage(results: BenchResults | undefined): {
	zipped: number;
	unzipped: number;
	measured: boolean;
} {
	const extras = results?.targets.serverless?.extras;
	const zip = Number(extras?.zip_bytes);
	const unzipped = Number(extras?.zip_unzipped_bytes);
	const model = results ? measuredModelBytes(results) : Number.NaN;
	if (!Number.isFinite(zip) || !Number.isFinite(unzipped))
		return { zipped: 0, unzipped: 0, measured: false };
	return {
		// The measured model is tiny (tens of KB); subtracting it unzipped only is the conservative side.
		zipped: zip,
		unzipped: unzipped - (Number.isFinite(model) ? model : 0),
		measured: true,
	};
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

/**
 * The serverless pattern's package limits as limits on the model's size: each provider's zipped and
 * unzipped limit (`table`, `SIZE_LIMITS` of `@mdp/serverless`) less what the package carries beside the
 * model (runtime, onnxruntime-node, app), as measured for the aws zip in `results` when it was. The model
 * is taken as incompressible (weights barely compress), so it counts whole against the zipped limit too.
 * A provider that documents no limit gives none.
 *
 * @example
 * const limits = packageSizeLimits(SIZE_LIMITS, results);
 * advise(results, { rateRps: 50, p99Ms: 100, modelBytes: 300e6 }, { prices, sizeLimits: limits });
 */
export function packageSizeLimits(
	table: Readonly<Record<string, ProviderPackageLimit>>,
	results?: BenchResults,
): SizeLimit[] {
	const rest = restOfPackage(results);
	const limits: SizeLimit[] = [];
	for (const limit of Object.values(table)) {
		for (const [kind, total, used] of [
			["unzipped", limit.uncompressedBytes, rest.unzipped],
			["zipped", limit.compressedBytes, rest.zipped],
		] as const) {
			if (total === undefined) continue;
			limits.push({
				pattern: "serverless",
				provider: limit.provider,
				bytes: total - used,
				what: `the ${limit.provider} ${kind} package limit of ${mb(total)}${used > 0 ? ` less ${mb(used)} for the rest of the package` : ""}`,
			});
		}
	}
	return limits;
}

/**
 * Per provider, whether a model of `modelBytes` fits its package limits, with the provider's own scope
 * text (where a limit applies, and how to lift it): the lines `advise` prints under its table.
 *
 * @example
 * packageLimitLines(300e6, SIZE_LIMITS)[0];
 * // "aws: crossed: the aws unzipped package limit of 262 MB (…)"
 */
export function packageLimitLines(
	modelBytes: number,
	table: Readonly<Record<string, ProviderPackageLimit>>,
	results?: BenchResults,
): string[] {
	const limits = packageSizeLimits(table, results);
	const rest = restOfPackage(results);
	const lines = Object.values(table).map((p) => {
		const own = limits.filter((l) => l.provider === p.provider);
		if (own.length === 0)
			return `${p.provider}: no package limit documented, none checked (${p.scope})`;
		const crossed = own.filter((l) => modelBytes > l.bytes);
		const list = (ls: SizeLimit[]) =>
			ls
				.map((l) =>
					rest.measured ? `${l.what} (${mb(l.bytes)} for the model)` : l.what,
				)
				.join("; ");
		return crossed.length
			? `${p.provider}: crossed: ${list(crossed)}. ${p.scope}`
			: `${p.provider}: within ${list(own)}`;
	});
	return [
		`Package limits for a ${mb(modelBytes)} model, serverless (the model taken as incompressible; ${rest.measured ? `the rest of the package as measured for the aws zip: ${mb(rest.unzipped)} unzipped, ${mb(rest.zipped)} zipped` : "the rest of the package not measured in this run, so not counted"}; limits read ${Object.values(table)[0]?.read ?? "?"}):`,
		...lines.map((l) => `- ${l}`),
	];
}

/** Options of {@link advise}. */
export interface AdviseOptions {
	prices: Prices;
	/** Package size limits by pattern (e.g. AWS Lambda's 250 MB unzipped). */
	sizeLimits?: readonly SizeLimit[];
	/**
	 * Seconds an idle serverless instance or scaled-to-zero container is kept before it is reaped: below one
	 * request per that many seconds, every request is a cold start. Default 300.
	 */
	idleSeconds?: number;
	/** Memory given to a function, GB (prices GB-seconds). Default 0.5. */
	functionMemoryGb?: number;
}

const HOURS_PER_MONTH = 730;

const median = (s: { median: number } | undefined) => s?.median ?? Number.NaN;

/** The model bytes the results were measured with (the model-bundle artifact of any target). */
function measuredModelBytes(results: BenchResults): number {
	for (const t of Object.values(results.targets)) {
		const bundle = t.footprint?.artifacts.find(
			(a) => a.kind === "model-bundle",
		);
		if (bundle) return bundle.bytes;
	}
	return Number.NaN;
}

/** p99 at `rate` for one unit, from the measured points (light rate, 70% load), and where it came from. */
function p99At(t: TargetResult, rate: number): { p99: number; how?: string } {
	const light = t.latency?.light;
	const load = t.latency?.load70;
	if (!light) return { p99: Number.NaN, how: "no latency measured" };
	if (rate <= light.rate_rps) return { p99: median(light.p99_ms) };
	if (load && rate <= load.rate_rps) {
		const f = (rate - light.rate_rps) / (load.rate_rps - light.rate_rps);
		return {
			p99:
				median(light.p99_ms) + f * (median(load.p99_ms) - median(light.p99_ms)),
			how: `p99 interpolated between ${light.rate_rps} and ${Math.round(load.rate_rps)} req/s`,
		};
	}
	return {
		p99: median(load?.p99_ms ?? light.p99_ms),
		how: "p99 taken at 70% load (the rate is split over enough units to stay there)",
	};
}

/**
 * Ranks the measured patterns for a profile: which fit (objective, size limits, offline need) and what
 * each costs per month at that rate, from the figures of one benchmark run. Units are sized so each stays
 * at or under its measured capacity at the p99 objective; a serverless pattern whose requests arrive less
 * often than instances are kept warm pays a cold start on most of them. Every figure not measured at the
 * profile itself is listed as extrapolated. Pure: the same results and profile give the same advice.
 */
export function advise(
	results: BenchResults,
	profile: Profile,
	options: AdviseOptions,
): Advice[] {
	const { prices } = options;
	const idleSeconds = options.idleSeconds ?? 300;
	const memoryGb = options.functionMemoryGb ?? 0.5;
	const measuredBytes = measuredModelBytes(results);
	const modelBytes = profile.modelBytes ?? measuredBytes;
	const advice: Advice[] = [];
	for (const [pattern, t] of Object.entries(results.targets)) {
		if (t.not_measured || !t.throughput) continue;
		const reasons: string[] = [];
		const extrapolated: string[] = [];
		let fits = true;
		const capacity = median(t.throughput.max_rps_under_slo);
		const perUnit = Number.isFinite(capacity)
			? capacity
			: median(t.throughput.saturation_rps) * 0.7;
		if (!Number.isFinite(capacity))
			extrapolated.push(
				"capacity: the SLO search failed, 70% of saturation used instead",
			);
		const units = Math.max(1, Math.ceil(profile.rateRps / perUnit));
		const perUnitRate = profile.rateRps / units;
		const latency = p99At(t, perUnitRate);
		if (latency.how) extrapolated.push(latency.how);
		let p99 = latency.p99;

		const cold = median(t.coldStart?.total_ms);
		const scalesToZero = pattern === "serverless";
		if (scalesToZero && profile.rateRps > 0) {
			const gapS = 1 / profile.rateRps;
			if (gapS > idleSeconds) {
				p99 = Math.max(p99, cold);
				reasons.push(
					`at one request every ${gapS.toFixed(0)} s, longer than the ${idleSeconds} s an idle instance is kept, most requests start cold: ${cold.toFixed(0)} ms measured`,
				);
			} else {
				reasons.push(
					`instances stay warm at this rate (a request every ${gapS < 1 ? `${(gapS * 1000).toFixed(0)} ms` : `${gapS.toFixed(0)} s`}); cold starts (${cold.toFixed(0)} ms) only when scaling out`,
				);
			}
		}
		if (p99 > profile.p99Ms) {
			fits = false;
			reasons.push(
				`p99 ${p99.toFixed(1)} ms at ${perUnitRate.toFixed(0)} req/s per unit is over the ${profile.p99Ms} ms objective`,
			);
		} else {
			reasons.push(
				`p99 ${p99.toFixed(2)} ms meets the ${profile.p99Ms} ms objective (${units} unit${units > 1 ? "s" : ""} of ${perUnit.toFixed(0)} req/s measured capacity)`,
			);
		}
		if (profile.offline && t.offline?.works !== true) {
			fits = false;
			reasons.push(
				t.offline?.works === false
					? "needs the network: offline was measured not to work"
					: "offline not measured: cannot be recommended for an offline need",
			);
		}
		const limits = (options.sizeLimits ?? []).filter(
			(l) => l.pattern === pattern,
		);
		const crossed = limits.filter((l) => modelBytes > l.bytes);
		for (const limit of crossed) {
			fits = false;
			reasons.push(
				`a ${(modelBytes / 1e6).toFixed(0)} MB model exceeds ${limit.what} (${(limit.bytes / 1e6).toFixed(0)} MB)`,
			);
		}
		const providers = (ls: SizeLimit[]) =>
			new Set(ls.flatMap((l) => (l.provider ? [l.provider] : [])));
		const crossedBy = providers(crossed);
		const within = [...providers(limits)].filter((p) => !crossedBy.has(p));
		if (crossedBy.size && within.length)
			reasons.push(
				`within the package limits of ${within.join(", ")}: crossed for ${[...crossedBy].join(", ")} only`,
			);
		if (
			profile.modelBytes !== undefined &&
			profile.modelBytes !== measuredBytes
		)
			extrapolated.push(
				`measured with a ${(measuredBytes / 1e3).toFixed(0)} KB model; latency and cold start of a ${(profile.modelBytes / 1e6).toFixed(0)} MB model not measured here (run the model-size sweep)`,
			);

		const usdPerMonth = monthlyCost(pattern, t, profile.rateRps, units, {
			prices,
			memoryGb,
		});
		reasons.push(
			`about $${usdPerMonth.toFixed(2)} a month at ${profile.rateRps} req/s`,
		);
		advice.push({
			pattern,
			fits,
			usdPerMonth,
			p99Ms: p99,
			units,
			reasons,
			extrapolated,
		});
	}
	return advice.sort(
		(a, b) =>
			Number(b.fits) - Number(a.fits) ||
			a.usdPerMonth - b.usdPerMonth ||
			a.p99Ms - b.p99Ms,
	);
}

/** Monthly cost of a pattern serving `rate` req/s on `units` units, from the price table. */
export function monthlyCost(
	pattern: string,
	t: TargetResult,
	rate: number,
	units: number,
	options: { prices: Prices; memoryGb: number },
): number {
	const { prices } = options;
	const seconds = HOURS_PER_MONTH * 3600;
	const cpuPerPrediction = median(t.footprint?.cpu_s_per_1000) / 1000;
	switch (pattern) {
		case "static": {
			// Inside the application: the CPU it adds to the machine that already runs the app.
			const vcpuHours = (cpuPerPrediction * rate * seconds) / 3600;
			return vcpuHours * (prices.vm.usd_per_hour / prices.vm.vcpus);
		}
		case "container": {
			const gb = Math.max(
				0.5,
				Math.ceil((t.footprint?.peak_rss_mb ?? 512) / units / 512) / 2,
			);
			return (
				units *
				HOURS_PER_MONTH *
				(prices.container.usd_per_vcpu_hour +
					gb * prices.container.usd_per_gb_hour)
			);
		}
		case "serverless": {
			const requests = rate * seconds;
			const billedS = Math.max(
				0.001,
				Math.ceil(median(t.latency?.light.p50_ms)) / 1000,
			);
			return (
				(requests / 1e6) * prices.function.usd_per_million_requests +
				requests *
					billedS *
					options.memoryGb *
					prices.function.usd_per_gb_second
			);
		}
		default:
			// http and vm: whole instances, on all month.
			return units * HOURS_PER_MONTH * prices.vm.usd_per_hour;
	}
}

/** Typical workloads the report gives advice for. */
export const TYPICAL_PROFILES: readonly { name: string; profile: Profile }[] = [
	{
		name: "an internal tool: a request a minute, p99 ≤ 1 s",
		profile: { rateRps: 1 / 60, p99Ms: 1000 },
	},
	{
		name: "a web feature: 50 req/s, p99 ≤ 100 ms",
		profile: { rateRps: 50, p99Ms: 100 },
	},
	{
		name: "a scoring pipeline: 5,000 req/s, p99 ≤ 50 ms",
		profile: { rateRps: 5000, p99Ms: 50 },
	},
];

/** Reads `50/s`, `50`, `3000/min`, `1/h` as requests per second. */
export function parseRate(text: string): number {
	const match =
		/^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|sec|min|m|h|hour))?\s*$/i.exec(text);
	if (!match)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`rate "${text}" is not like 50/s, 3000/min or 2/h`,
		);
	const per = { s: 1, sec: 1, min: 60, m: 60, h: 3600, hour: 3600 }[
		(match[2] ?? "s").toLowerCase() as "s"
	];
	return Number(match[1]) / per;
}

/** Reads `100ms`, `0.5s` or `100` (ms) as milliseconds. */
export function parseDurationMs(text: string): number {
	const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$/i.exec(text);
	if (!match)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`duration "${text}" is not like 100ms or 0.5s`,
		);
	return (
		Number(match[1]) * ((match[2] ?? "ms").toLowerCase() === "s" ? 1000 : 1)
	);
}

/** Advice as Markdown: a ranked table, then each pattern's reasons and extrapolations, then `notes`. */
export function renderAdvice(
	profile: Profile,
	advice: readonly Advice[],
	notes: readonly string[] = [],
): string {
	const lines = [
		`Profile: ${profile.rateRps} req/s, p99 ≤ ${profile.p99Ms} ms${profile.modelBytes ? `, model ${(profile.modelBytes / 1e6).toFixed(0)} MB` : ""}${profile.offline ? ", offline" : ""}`,
		"",
		"| rank | pattern | fits | $/month | p99 ms | units |",
		"|---|---|---|---|---|---|",
		...advice.map(
			(a, i) =>
				`| ${i + 1} | ${a.pattern} | ${a.fits ? "yes" : "no"} | ${a.usdPerMonth.toFixed(2)} | ${a.p99Ms.toFixed(2)} | ${a.units} |`,
		),
		"",
	];
	for (const a of advice) {
		lines.push(`- **${a.pattern}**: ${a.reasons.join("; ")}.`);
		if (a.extrapolated.length)
			lines.push(`  Extrapolated: ${a.extrapolated.join("; ")}.`);
	}
	if (notes.length) lines.push("", ...notes);
	return `${lines.join("\n")}\n`;
}
