import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Deadlines } from "./deadlines.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MODULE = JSON.stringify(
	fileURLToPath(new URL("./deadlines.ts", import.meta.url)),
);

/** Runs an ES module script in a child Node process that has `Deadlines` in scope (bounded: 20 s). */
function runChild(script: string, nodeFlags: string[] = []) {
	return spawnSync(
		process.execPath,
		[
			...nodeFlags,
			"--import",
			"tsx",
			"--input-type=module",
			"-e",
			`const { Deadlines } = await import(${MODULE});\n${script}`,
		],
		{ timeout: 20_000, encoding: "utf8" },
	);
}

describe("Deadlines", () => {
	afterEach(() => vi.restoreAllMocks());

	it("expires unsettled deadlines in order, no earlier than their timeout, and never settled ones", async () => {
		const deadlines = new Deadlines(40);
		const expired: number[] = [];
		const started = performance.now();
		const at: number[] = [];
		const entries = [0, 1, 2, 3].map((i) =>
			deadlines.add(() => {
				expired.push(i);
				at.push(performance.now() - started);
			}),
		);
		const [, second] = entries;
		if (second) deadlines.settle(second);
		await sleep(15);
		const late = deadlines.add(() => expired.push(4));
		expect(deadlines.pending).toBe(4);
		await sleep(35);
		expect(expired).toEqual([0, 2, 3]);
		for (const ms of at) expect(ms).toBeGreaterThanOrEqual(39);
		// The one added 15 ms later has its own full timeout: still pending, then expires.
		expect(deadlines.pending).toBe(1);
		expect(late.settled).toBe(false);
		await sleep(30);
		expect(expired).toEqual([0, 2, 3, 4]);
		expect(deadlines.pending).toBe(0);
		deadlines.close();
	});

	it("keeps one timer for many requests: settling does not create or clear timers", async () => {
		const deadlines = new Deadlines(10_000);
		const set = vi.spyOn(globalThis, "setTimeout");
		const clear = vi.spyOn(globalThis, "clearTimeout");
		for (let i = 0; i < 1000; i++) {
			const a = deadlines.add(() => {});
			const b = deadlines.add(() => {});
			deadlines.settle(b); // out of order: a is still at the front
			deadlines.settle(a);
		}
		expect(set).toHaveBeenCalledTimes(1);
		expect(clear).not.toHaveBeenCalled();
		expect(deadlines.pending).toBe(0);
		deadlines.close();
	});

	it("re-arms for the next pending deadline after the oldest one settled", async () => {
		const deadlines = new Deadlines(30);
		const first = deadlines.add(() => {
			throw new Error("settled: must not expire");
		});
		await sleep(15);
		let expired = false;
		deadlines.add(() => {
			expired = true;
		});
		deadlines.settle(first);
		await sleep(25); // the timer armed for `first` fires ~15 ms before the second is due
		expect(expired).toBe(false);
		await sleep(30);
		expect(expired).toBe(true);
		deadlines.close();
	});

	it("arms one timer, not two, when an expiring deadline's callback adds another", () => {
		// Fake timers and clock: a real timer may fire a fraction of a millisecond early and re-arm once.
		vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
		try {
			const set = vi.spyOn(globalThis, "setTimeout");
			const deadlines = new Deadlines(20);
			let second = false;
			deadlines.add(() => {
				deadlines.add(() => {
					second = true;
				});
			});
			vi.advanceTimersByTime(20);
			expect(second).toBe(false);
			vi.advanceTimersByTime(20);
			expect(second).toBe(true);
			expect(set).toHaveBeenCalledTimes(2);
			deadlines.close();
		} finally {
			vi.useRealTimers();
		}
	});

	it("stays consistent through many out-of-order settles (the queue compacts)", () => {
		const deadlines = new Deadlines(60_000);
		const [first, ...rest] = Array.from({ length: 5000 }, () =>
			deadlines.add(() => {}),
		);
		for (const entry of rest) deadlines.settle(entry);
		expect(deadlines.pending).toBe(1);
		if (first) {
			deadlines.settle(first);
			deadlines.settle(first); // idempotent
		}
		expect(deadlines.pending).toBe(0);
		deadlines.close();
	});

	it("refuses a timeout that is not a positive number", () => {
		expect(() => new Deadlines(0)).toThrow(/positive number/);
		expect(() => new Deadlines(Number.NaN)).toThrow(/positive number/);
	});

	it("does not hold a process open once its deadlines are settled", () => {
		// A child adds and settles a deadline of one minute; it must exit at once, not a minute later.
		const script = `
			const deadlines = new Deadlines(60_000);
			deadlines.settle(deadlines.add(() => {}));
			globalThis.pendingOne = deadlines; // still referenced: only the timer's ref could hold the loop
		`;
		const started = performance.now();
		const child = runChild(script);
		expect(child.stderr).toBe("");
		expect(child.status).toBe(0);
		expect(performance.now() - started).toBeLessThan(15_000);
	});

	it("keeps nothing of a settled request alive, under steady load where the queue never empties", () => {
		// 5,000 requests with 32 always pending, settled in order: after a GC, only the pending ones' closures
		// (what a request's callback captures: its context) may still be reachable.
		const script = `
			const deadlines = new Deadlines(60_000);
			const refs = [];
			const pending = [];
			for (let i = 0; i < 5000; i++) {
				const context = { request: i };
				refs.push(new WeakRef(context));
				pending.push(deadlines.add(() => console.log(context.request)));
				if (pending.length > 32) deadlines.settle(pending.shift());
			}
			await new Promise((r) => setTimeout(r, 0)); // a WeakRef keeps its target for the current job
			globalThis.gc();
			console.log(JSON.stringify({ alive: refs.filter((r) => r.deref()).length, pending: deadlines.pending }));
			for (const d of pending) deadlines.settle(d);
		`;
		const child = runChild(script, ["--expose-gc"]);
		expect(child.stderr).toBe("");
		const { alive, pending } = JSON.parse(child.stdout);
		expect(pending).toBe(32);
		expect(alive).toBeLessThanOrEqual(32);
	});

	it("holds a process open while a deadline is pending, so it expires", () => {
		const script = `
			const deadlines = new Deadlines(100);
			deadlines.settle(deadlines.add(() => {}));
			deadlines.add(() => console.log("expired"));
		`;
		const child = runChild(script);
		expect(child.stderr).toBe("");
		expect(child.stdout.trim()).toBe("expired");
	});
});
