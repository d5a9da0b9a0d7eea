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
