import { readFileSync } from "node:fs";

/** The price table (`bench/prices.json`): dated list prices with their sources. */
export interface Prices {
	date: string;
	note: string;
	vm: { name: string; usd_per_hour: number; vcpus: number; source: string };
	container: {
		name: string;
		usd_per_vcpu_hour: number;
		usd_per_gb_hour: number;
		source: string;
	};
	function: {
		name: string;
		usd_per_gb_second: number;
		usd_per_million_requests: number;
		source: string;
	};
}

/** Reads the price table shipped with the harness. */
export function readPrices(): Prices {
	return JSON.parse(
		readFileSync(new URL("../../prices.json", import.meta.url), "utf8"),
	) as Prices;
}

/**
 * Dollars per million predictions on a VM of this machine's size (2 vCPU) kept busy at the measured
 * throughput: the hourly price divided by the predictions an hour holds. Used for the static and the
 * single-instance targets, which both run on one machine; vm, container and serverless will price their
 * own resources (instances, vCPU-GB hours, GB-seconds and requests).
 */
export function vmCostPerMillion(
	prices: Prices,
	predictionsPerSecond: number,
): { usd_per_million_predictions: number; basis: string } {
	const perHour = predictionsPerSecond * 3600;
	return {
		usd_per_million_predictions:
			perHour > 0 ? (prices.vm.usd_per_hour / perHour) * 1e6 : Number.NaN,
		basis: `${prices.vm.name} at $${prices.vm.usd_per_hour}/h (${prices.date}), kept busy at the measured saturation throughput`,
	};
}

/**
 * Dollars per million predictions for a pattern, each priced the way its resources are sold: a VM (or the
 * application's own machine) by the hour at the measured throughput; containers by vCPU- and GB-hours of
 * the same 2 vCPU / 4 GB at that throughput; functions by requests and GB-seconds of the billed duration
 * (the warm p50 rounded up to the millisecond, at `functionMemoryGb`), nothing while idle.
 */
export function costPerMillion(
	pattern: string,
	prices: Prices,
	figures: {
		predictionsPerSecond: number;
		warmP50Ms: number;
		/** Instances a vm fleet runs: each is a VM of its own. */
		instances?: number;
	},
	functionMemoryGb = 0.5,
): { usd_per_million_predictions: number; basis: string } {
	if (pattern === "serverless") {
		const billedS = Math.max(1, Math.ceil(figures.warmP50Ms)) / 1000;
		return {
			usd_per_million_predictions:
				prices.function.usd_per_million_requests +
				1e6 * billedS * functionMemoryGb * prices.function.usd_per_gb_second,
			basis: `${prices.function.name}: $${prices.function.usd_per_million_requests} per million requests + ${billedS * 1000} ms billed × ${functionMemoryGb} GB at $${prices.function.usd_per_gb_second}/GB-s (${prices.date}); nothing while idle`,
		};
	}
	if (pattern === "container") {
		const perHour =
			2 * prices.container.usd_per_vcpu_hour +
			4 * prices.container.usd_per_gb_hour;
		const perHourPredictions = figures.predictionsPerSecond * 3600;
		return {
			usd_per_million_predictions:
				perHourPredictions > 0
					? (perHour / perHourPredictions) * 1e6
					: Number.NaN,
			basis: `${prices.container.name}: 2 vCPU + 4 GB at $${perHour.toFixed(4)}/h (${prices.date}), kept busy at the measured saturation throughput`,
		};
	}
	const instances = pattern === "vm" ? (figures.instances ?? 1) : 1;
	const one = vmCostPerMillion(
		prices,
		figures.predictionsPerSecond / instances,
	);
	return instances === 1
		? one
		: {
				usd_per_million_predictions: one.usd_per_million_predictions,
				basis: `${instances} × ${one.basis} (each instance a VM of its own, sharing the measured throughput)`,
			};
}
