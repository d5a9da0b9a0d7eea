import { compareToGolden, type GoldenCase, type Prediction } from "@mdp/core";

/** One request of a steady load: when it ended, how, and which model answered. */
export interface Outcome {
	/** `performance.now()` when the request was sent. */
	sent: number;
	/** `performance.now()` when the answer (or the error) came. */
	at: number;
	status: number;
	/** 200 and, when golden checking is on, the golden answer. */
	ok: boolean;
	version?: string;
	label?: string;
	error?: string;
}

/**
 * A steady load on `url`: `concurrency` clients over keep-alive connections (fetch's pool), each sending
 * one golden record after another to `/predict` until stopped. Bounded by `maxSeconds` in any case.
 *
 * @example
 * const load = steadyLoad(fleet.url, golden);
 * // … a fault …
 * const outcomes = await load.stop();
 */
export function steadyLoad(
	url: string,
	golden: GoldenCase[],
	options: {
		concurrency?: number;
		checkGolden?: boolean;
		maxSeconds?: number;
		/** Records in each request (the same golden record repeated). Default 1. */
		recordsPerRequest?: number;
	} = {},
) {
	const outcomes: Outcome[] = [];
	let running = true;
	const deadline = performance.now() + (options.maxSeconds ?? 60) * 1000;
	const worker = async (w: number) => {
		for (let i = w; running && performance.now() < deadline; i += 7) {
			const g = golden[i % golden.length] as GoldenCase;
			const sent = performance.now();
			try {
				const res = await fetch(`${url}/predict`, {
					method: "POST",
					headers: { "content-type": "application/json" },
					body: JSON.stringify({
						records: Array.from(
							{ length: options.recordsPerRequest ?? 1 },
							() => g.record,
						),
					}),
					signal: AbortSignal.timeout(30_000),
				});
				const body = (await res.json()) as {
					model?: { version: string };
					predictions?: Prediction[];
					error?: string;
				};
				const golden =
					options.checkGolden === false ||
					(body.predictions?.length === (options.recordsPerRequest ?? 1) &&
						compareToGolden([g], body.predictions.slice(0, 1)).length === 0);
				outcomes.push({
					sent,
					at: performance.now(),
					status: res.status,
					ok: res.status === 200 && golden,
					version: body.model?.version,
					label: body.predictions?.[0]?.label,
					error: body.error,
				});
			} catch (error) {
				outcomes.push({
					sent,
					at: performance.now(),
					status: 0,
					ok: false,
					error: (error as Error).message,
				});
			}
		}
	};
	const workers = Array.from({ length: options.concurrency ?? 6 }, (_, w) =>
		worker(w),
	);
	return {
		outcomes,
		async stop(): Promise<Outcome[]> {
			running = false;
			await Promise.all(workers);
			return outcomes;
		},
	};
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `condition` every 50 ms until it holds (true) or `ms` passed (false). */
export async function until(
	condition: () => boolean | Promise<boolean>,
	ms: number,
): Promise<boolean> {
	const deadline = performance.now() + ms;
	while (!(await condition())) {
		if (performance.now() > deadline) return false;
		await sleep(50);
	}
	return true;
}
