/** One request's deadline, as {@link Deadlines.add} returns it. */
export interface Deadline {
	/** `performance.now()` at which it expires. */
	readonly due: number;
	/** Settled (finished in time, or expired): its callback will not run. */
	readonly settled: boolean;
}

/** A queue entry: the callback is dropped when it settles, so a settled entry holds nothing of its request. */
interface Entry {
	due: number;
	settled: boolean;
	onExpire: (() => void) | undefined;
}

/**
 * Request deadlines kept with one timer instead of one `setTimeout` per request. Every request of an app
 * has the same timeout, so deadlines expire in arrival order: they wait in a FIFO and a single timer is
 * armed for the oldest unsettled one. A request that finishes only marks its entry; finished entries
 * leave from the front. When the timer fires it expires what is due and re-arms for the next entry. In
 * the steady state a request costs no timer work at all; with a `setTimeout` per request, each sparse
 * request also created, scheduled and removed a timer list (Node's own HTTP server checks its request
 * timeouts with one interval for the same reason).
 *
 * The timer holds the process open only while a deadline is pending (it is unref'd when the queue
 * empties), so a short-lived process is not kept alive by a request that already finished.
 *
 * @example
 * const deadlines = new Deadlines(30_000);
 * const d = deadlines.add(() => reject(new Error("timeout")));
 * work.finally(() => deadlines.settle(d));
 */
export class Deadlines {
	readonly #timeoutMs: number;
	/**
	 * Entries in arrival (= expiry) order; `#head` is the first one not yet dropped. Slots before it are
	 * cleared as it moves, so dropped entries are garbage at once (a request's callback holds its whole
	 * context; under steady load the queue never empties).
	 */
	#queue: (Entry | undefined)[] = [];
	#head = 0;
	#pending = 0;
	#timer: NodeJS.Timeout | undefined;
	/** When the armed timer fires (`performance.now()`), or Infinity when none is armed. */
	#armedFor = Number.POSITIVE_INFINITY;

	constructor(timeoutMs: number) {
		if (!(timeoutMs > 0))
			throw new RangeError(
				`the timeout must be a positive number of ms, got ${timeoutMs}`,
			);
		this.#timeoutMs = timeoutMs;
	}

	/** Deadlines not yet settled. */
	get pending(): number {
		return this.#pending;
	}

	/** Starts a deadline `timeoutMs` from now; `onExpire` runs then, unless it is settled first. */
	add(onExpire: () => void): Deadline {
		const deadline: Entry = {
			due: performance.now() + this.#timeoutMs,
			settled: false,
			onExpire,
		};
		this.#queue.push(deadline);
		if (this.#pending++ === 0) this.#timer?.ref();
		// An armed timer fires no later than this deadline: it was armed for an older one (or for one that
		// settled since, and then re-arms from there).
		if (this.#armedFor === Number.POSITIVE_INFINITY) this.#arm(deadline.due);
		return deadline;
	}

	/** Marks a deadline as met: its callback will not run. Idempotent. */
	settle(deadline: Deadline): void {
		const entry = deadline as Entry;
		if (entry.settled) return;
		entry.settled = true;
		entry.onExpire = undefined;
		if (--this.#pending === 0) this.#timer?.unref();
		this.#dropSettled();
	}

	/** Cancels the timer; pending deadlines never expire. For shutting an app down. */
	close(): void {
		clearTimeout(this.#timer);
		this.#timer = undefined;
		this.#armedFor = Number.POSITIVE_INFINITY;
	}

	#arm(due: number): void {
		this.#armedFor = due;
		const delay = Math.max(0, due - performance.now());
		// Armed only when no timer is pending (first use, after it fired, after close), and only for a pending
		// deadline, so it starts ref'd.
		this.#timer = setTimeout(this.#fire, delay);
	}

	#fire = (): void => {
		this.#armedFor = Number.POSITIVE_INFINITY;
		const now = performance.now();
		const queue = this.#queue;
		while (this.#head < queue.length) {
			const entry = queue[this.#head] as Entry;
			if (!entry.settled && entry.due > now) break;
			queue[this.#head++] = undefined;
			if (entry.settled) continue;
			const { onExpire } = entry;
			entry.settled = true;
			entry.onExpire = undefined;
			this.#pending--;
			onExpire?.();
		}
		this.#dropSettled();
		const next = queue[this.#head];
		// (An `onExpire` that added a deadline has armed the timer already.)
		if (next && this.#armedFor === Number.POSITIVE_INFINITY)
			this.#arm(next.due);
	};

	/** Drops settled entries from the front, and compacts the array once its dead prefix is large. */
	#dropSettled(): void {
		const queue = this.#queue;
		while (this.#head < queue.length && (queue[this.#head] as Entry).settled)
			queue[this.#head++] = undefined;
		if (this.#head === queue.length) {
			queue.length = 0;
			this.#head = 0;
		} else if (this.#head > 1024 && this.#head * 2 > queue.length) {
			queue.splice(0, this.#head);
			this.#head = 0;
		}
	}
}
