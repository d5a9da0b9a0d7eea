import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { costPerMillion, readPrices, vmCostPerMillion } from "./cost.ts";
import { cpuSeconds, peakRssMb } from "./proc.ts";

/** A child with known use: it touches `mb` MB, burns about `cpuMs` of CPU, says "done" and waits. */
async function knownUse(mb: number, cpuMs: number) {
	const child = spawn(
		process.execPath,
		[
			"-e",
			`const b = Buffer.alloc(${mb} * 1024 * 1024, 1);
			 const end = process.cpuUsage().user + ${cpuMs} * 1000;
			 let x = 0;
			 // Check the clock rarely: each check is a system call, which would add system time.
			 while (process.cpuUsage().user < end) for (let i = 0; i < 1e6; i++) x += i;
			 console.log("done " + b[0] + x);
			 setInterval(() => {}, 1000);`,
		],
		{ stdio: ["ignore", "pipe", "inherit"] },
	);
	await once(child.stdout, "data");
	return child;
}

describe("process sampling against a process with known use", () => {
	it("reads the CPU time and peak memory of a child that burned 400 ms and touched 200 MB", async () => {
		const child = await knownUse(200, 400);
		try {
			const pid = child.pid as number;
			const cpu = cpuSeconds([pid]);
			// At least what it burned on purpose, and not wildly more (start-up adds ~0.1 s).
			expect(cpu).toBeGreaterThanOrEqual(0.38);
			expect(cpu).toBeLessThan(1.5);
			const rss = peakRssMb([pid]);
			expect(rss).toBeGreaterThanOrEqual(200);
			expect(rss).toBeLessThan(400);
			// Two processes add up; a gone one counts nothing.
			expect(peakRssMb([pid, pid])).toBeCloseTo(2 * rss, 0);
			expect(cpuSeconds([999_999_999])).toBe(0);
		} finally {
			child.kill();
		}
	});
});

describe("cost arithmetic", () => {
	it("prices a million predictions from the hourly price and the throughput", () => {
		const prices = readPrices();
		const { usd_per_million_predictions } = vmCostPerMillion(prices, 1000);
		// 1,000 predictions/s = 3.6 M per hour: a million costs hourly / 3.6.
		expect(usd_per_million_predictions).toBeCloseTo(
			prices.vm.usd_per_hour / 3.6,
			10,
		);
		expect(vmCostPerMillion(prices, 0).usd_per_million_predictions).toBeNaN();
	});

	it("prices functions by requests and GB-seconds, whatever the throughput", () => {
		const prices = readPrices();
		const { usd_per_million_predictions } = costPerMillion(
			"serverless",
			prices,
			{
				predictionsPerSecond: 5,
				warmP50Ms: 1.2,
			},
		);
		// 1.2 ms is billed as 2 ms; a million of them at 0.5 GB.
		expect(usd_per_million_predictions).toBeCloseTo(
			prices.function.usd_per_million_requests +
				1e6 * 0.002 * 0.5 * prices.function.usd_per_gb_second,
			10,
		);
	});
});
