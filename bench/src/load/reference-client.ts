import { connect } from "node:net";
import { createLatencyHistogram, type LatencyHistogram } from "./histogram.ts";
import { complete, requestBytes } from "./http-send.ts";

/** What the reference client measured. */
export interface ReferenceRun {
	/** Write of the request to the last byte of its answer, µs. */
	latency: LatencyHistogram;
	requests: number;
	/** Answers that were not 2xx. */
	errors: number;
	elapsedS: number;
}

const EMPTY: Buffer = Buffer.alloc(0);

/**
 * The reference floor for latency at a light rate: the least an HTTP/1.1 client can do. One keep-alive
 * socket with Nagle off, prebuilt requests (`bodies` in turn, the same bytes the embedded driver writes),
 * each written at its scheduled time (`rate` per second: sleep, then poll the last millisecond as the
 * driver does), timed from the write to the last byte of its answer, taken first thing in the socket's
 * `data` handler. No pool, no promise per request, no open-loop bookkeeping: what it sees is the server,
 * the kernel and the machine. Run beside the embedded driver on the same server, alternated, the
 * difference is the driver's own cost. A request whose answer comes after the next one was due delays it
 * (one socket, closed loop): use it at rates where answers come well within the interval.
 *
 * @example
 * const run = await runReferenceClient({ url: `${server.url}/predict`, bodies: ['{"records":[…]}'], rate: 200, durationS: 2 });
 * run.latency.getValueAtPercentile(50); // µs
 */
export function runReferenceClient(options: {
	url: string;
	bodies: readonly string[];
	rate: number;
	durationS: number;
}): Promise<ReferenceRun> {
	const { rate, durationS } = options;
	const target = new URL(options.url);
	const requests = requestBytes(target, options.bodies);
	const n = Math.max(1, Math.round(rate * durationS));
	const latency = createLatencyHistogram();
	const run: ReferenceRun = { latency, requests: 0, errors: 0, elapsedS: 0 };
	const now = () => process.hrtime.bigint();
	return new Promise((resolve, reject) => {
		const socket = connect({
			host: target.hostname,
			port: Number(target.port || 80),
			noDelay: true,
		});
		const start = now() + 2_000_000n;
		const due = (k: number) => start + BigInt(Math.round((k * 1e9) / rate));
		let buffer = EMPTY;
		let wrote = 0n;
		let settled = false;
		// Bounded: the schedule plus 30 s for a stuck server.
		const guard = setTimeout(
			() => end(new Error("reference client: no answer within 30 s")),
			durationS * 1000 + 30_000,
		);
		const end = (error?: Error) => {
			if (settled) return;
			settled = true;
			clearTimeout(guard);
			run.elapsedS = Number(now() - start) / 1e9;
			socket.destroy();
			if (error) reject(error);
			else resolve(run);
		};
		const sendNext = () => {
			if (settled) return;
			if (run.requests >= n) return end();
			const wait = Number(due(run.requests) - now()) / 1e6;
			if (wait > 1.5) return void setTimeout(sendNext, wait - 1);
			if (wait > 0) return void setImmediate(sendNext);
			wrote = now();
			socket.write(requests[run.requests % requests.length] as Buffer);
			run.requests++;
		};
		socket.on("data", (chunk: Buffer) => {
			const at = now();
			buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
			const status = complete(buffer);
			if (!status) return;
			buffer = EMPTY;
			latency.recordValue(Math.max(1, Number(at - wrote) / 1000));
			if (status.code < 200 || status.code >= 300) run.errors++;
			if (status.close)
				return end(new Error("reference client: the server closed"));
			sendNext();
		});
		socket.once("connect", sendNext);
		socket.on("error", (error) => end(error));
		socket.on("close", () => end(new Error("reference client: closed")));
	});
}
