/** The autoscaling policy: between `min` and `max` instances on requests in flight per instance. */
export interface AutoscaleOptions {
	min: number;
	max: number;
	/**
	 * Requests in flight per ready instance (from the balancer, the same signal for both balancers) above
	 * which the fleet grows. Default 4.
	 */
	targetInFlight?: number;
	/** Below this per instance the fleet shrinks. Default a quarter of `targetInFlight`. */
	scaleInBelow?: number;
	/** The signal must stay above target this long before a scale-out. Default 1,000 ms. */
	scaleOutDelayMs?: number;
	/** The signal must stay below `scaleInBelow` this long before a scale-in. Default 10,000 ms. */
	scaleInDelayMs?: number;
	/** No decision for this long after the last change. Default 3,000 ms. */
	cooldownMs?: number;
	/** How often the signal is sampled. Default 250 ms. */
	intervalMs?: number;
}

/** One sample the autoscaler decides on. */
export interface AutoscaleSample {
	/** `performance.now()`. */
	at: number;
	/** Ready instances now. */
	instances: number;
	/** Requests in flight over all instances now. */
	inFlight: number;
}

/**
 * The autoscaler's state machine, free of timers and processes so it can be tested alone: feed it samples,
 * it answers the instance count to run (or undefined to leave things as they are). A breach must last its
 * delay: to scale out, at least 80 % of the samples of the delay window are over the target (in-flight
 * counts are instantaneous and noisy, so one dip does not reset it, but a short spike is not enough); to
 * scale in, every sample of its window is under `scaleInBelow`. After a change nothing happens for the
 * cooldown. Scale-out goes straight to what the window's average load needs at the target.
 *
 * @example
 * const scaler = createAutoscaler({ min: 1, max: 3, targetInFlight: 4 });
 * const want = scaler.decide({ at: performance.now(), instances: 1, inFlight: 9 });
 * if (want !== undefined) await fleet.scale(want);
 */
export function createAutoscaler(options: AutoscaleOptions) {
	const target = options.targetInFlight ?? 4;
	const low = options.scaleInBelow ?? target / 4;
	const outDelay = options.scaleOutDelayMs ?? 1000;
	const inDelay = options.scaleInDelayMs ?? 10_000;
	const cooldown = options.cooldownMs ?? 3000;
	let window: AutoscaleSample[] = [];
	let lastChange = Number.NEGATIVE_INFINITY;
	const perInstance = (s: AutoscaleSample) =>
		s.inFlight / Math.max(s.instances, 1);
	return {
		/** The instance count to run now, or undefined for no change. */
		decide(sample: AutoscaleSample): number | undefined {
			window.push(sample);
			const horizon = Math.max(outDelay, inDelay);
			window = window.filter((s) => sample.at - s.at <= horizon);
			if (sample.at - lastChange < cooldown) return undefined;
			const since = (ms: number) =>
				window.filter((s) => sample.at - s.at <= ms);
			// Samples reach back `ms` when the oldest one kept is at least that old. (Asking it of the samples
			// within `ms` only held when the timer ticked exactly on time: a few ms of drift per tick, as on a
			// busy machine, left the oldest of them just short, and the fleet never scaled.)
			const covers = (_list: AutoscaleSample[], ms: number) =>
				window.length > 0 &&
				sample.at - (window[0] as AutoscaleSample).at >= ms * 0.9;
			const average = (list: AutoscaleSample[]) =>
				list.reduce((n, s) => n + perInstance(s), 0) / Math.max(list.length, 1);
			const outWindow = since(outDelay);
			const over = outWindow.filter((s) => perInstance(s) > target).length;
			if (
				sample.instances < options.max &&
				covers(outWindow, outDelay) &&
				over >= 0.8 * outWindow.length
			) {
				lastChange = sample.at;
				window = [];
				// Enough instances for the load at the target, one step at least, at most `max`.
				const needed = Math.ceil(
					(average(outWindow) * Math.max(sample.instances, 1)) / target,
				);
				return Math.min(options.max, Math.max(sample.instances + 1, needed));
			}
			const inWindow = since(inDelay);
			if (
				sample.instances > options.min &&
				covers(inWindow, inDelay) &&
				inWindow.every((s) => perInstance(s) < low)
			) {
				lastChange = sample.at;
				window = [];
				return sample.instances - 1;
			}
			// Below the minimum (a start with fewer instances, or instances lost): back to the minimum.
			if (sample.instances < options.min) {
				lastChange = sample.at;
				return options.min;
			}
			return undefined;
		},
	};
}
