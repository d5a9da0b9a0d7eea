import { describe, expect, it } from "vitest";
import { createAutoscaler } from "./autoscaler.ts";

/** Feeds one sample every 100 ms from `from` for `ms`, returning the decisions. */
function feed(
	scaler: ReturnType<typeof createAutoscaler>,
	from: number,
	ms: number,
	instances: number,
	inFlight: number,
) {
	const decisions: [number, number][] = [];
	for (let at = from; at < from + ms; at += 100) {
		const want = scaler.decide({ at, instances, inFlight });
		if (want !== undefined) decisions.push([at - from, want]);
	}
	return decisions;
}

describe("createAutoscaler", () => {
	const options = {
		min: 1,
		max: 4,
		targetInFlight: 4,
		scaleOutDelayMs: 1000,
		scaleInDelayMs: 3000,
		cooldownMs: 2000,
	};

	it("scales out only after the signal stayed above target for the delay, by what the load needs", () => {
		const scaler = createAutoscaler(options);
		// 1 instance, 10 in flight: 2.5 × the target → 3 instances, once 1 s of samples is in.
		const decisions = feed(scaler, 0, 1500, 1, 10);
		expect(decisions).toEqual([[900, 3]]);
	});

	it("scales out when its timer drifts (a sample every 105 ms, as on a busy machine)", () => {
		const scaler = createAutoscaler({
			min: 1,
			max: 3,
			targetInFlight: 2,
			scaleOutDelayMs: 500,
			scaleInDelayMs: 1500,
			cooldownMs: 1000,
		});
		const decisions: number[] = [];
		for (let at = 0; at < 3000; at += 105) {
			const want = scaler.decide({ at, instances: 1, inFlight: 8 });
			if (want !== undefined) decisions.push(want);
		}
		expect(decisions[0]).toBe(3);
	});

	it("ignores a short spike", () => {
		const scaler = createAutoscaler(options);
		expect(feed(scaler, 0, 500, 1, 20)).toEqual([]);
		expect(feed(scaler, 500, 2000, 1, 1)).toEqual([]);
	});

	it("never exceeds max nor goes below min", () => {
		const scaler = createAutoscaler(options);
		expect(feed(scaler, 0, 1500, 2, 100).map(([, n]) => n)).toEqual([4]);
		const idle = createAutoscaler(options);
		expect(feed(idle, 0, 10_000, 1, 0)).toEqual([]);
	});

	it("scales in one step after a quiet delay, then waits for the cooldown", () => {
		const scaler = createAutoscaler(options);
		const decisions = feed(scaler, 0, 6000, 3, 0);
		// First after 3 s of quiet; the next needs the cooldown and a fresh quiet window.
		expect(decisions.map(([, n]) => n)).toEqual([2, 2]);
		expect((decisions[0] as [number, number])[0]).toBeGreaterThanOrEqual(2700);
		expect((decisions[1] as [number, number])[0]).toBeGreaterThanOrEqual(
			(decisions[0] as [number, number])[0] + 2000,
		);
	});

	it("does not scale in while load is moderate", () => {
		const scaler = createAutoscaler(options);
		// 2 per instance: under the target (no scale-out), over a quarter of it (no scale-in).
		expect(feed(scaler, 0, 10_000, 2, 4)).toEqual([]);
	});
});
