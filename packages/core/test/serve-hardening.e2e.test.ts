import { Agent, request as httpRequest } from "node:http";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type GoldenCase, readGoldenSet } from "../src/golden.ts";
import { type ServeProcess, startServeProcess } from "../src/http/index.ts";
import { referenceBundleDir } from "../src/index.ts";
import { describeHardeningContract } from "../src/testing/hardening-contract.ts";

// Issue 14 against a real `mdp-core serve` process: the hardening contract (with a small in-flight limit,
// so slow bodies would starve it if they held slots), and SIGTERM under keep-alive and pipelining load.

describeHardeningContract("mdp-core serve --max-in-flight 8", async () => {
	const server = await startServeProcess({ args: ["--max-in-flight", "8"] });
	return {
		url: server.url,
		stop: async () => {
			await server.stop();
		},
	};
});

const PREDICT_BODY = async () => {
	const golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
	// A large request (100 records) keeps each one on the wire and in the server for a while.
	return JSON.stringify({
		records: Array.from(
			{ length: 100 },
			(_, i) => (golden[i % golden.length] as GoldenCase).record,
		),
	});
};

interface Tally {
	/** Requests written on a connection the server had accepted. */
	sent: number;
	/** Of those, answered with 200. */
	ok: number;
	/** Answered with another status. */
	other: number;
	/** Written, then the connection closed under them: lost. */
	lost: number;
}

/** A keep-alive client sending back to back until the server refuses connections. */
async function keepAliveClient(
	port: number,
	body: string,
	tally: Tally,
	stopAt: () => boolean,
) {
	const agent = new Agent({ keepAlive: true, maxSockets: 1 });
	try {
		for (;;) {
			const outcome = await new Promise<"ok" | "other" | "refused" | "lost">(
				(resolve) => {
					const req = httpRequest(
						{
							host: "127.0.0.1",
							port,
							path: "/predict",
							method: "POST",
							agent,
							headers: {
								"content-type": "application/json",
								"content-length": Buffer.byteLength(body),
							},
						},
						(res) => {
							res.resume();
							res.once("end", () =>
								resolve(res.statusCode === 200 ? "ok" : "other"),
							);
							res.once("error", () => resolve("lost"));
						},
					);
					req.once("error", (error: NodeJS.ErrnoException) =>
						resolve(error.code === "ECONNREFUSED" ? "refused" : "lost"),
					);
					req.end(body);
				},
			);
			if (outcome === "refused") return;
			tally.sent++;
			if (outcome === "ok") tally.ok++;
			else if (outcome === "other") tally.other++;
			else tally.lost++;
			if (outcome === "lost" || stopAt()) return;
		}
	} finally {
		agent.destroy();
	}
}

/** A pipelining client: writes `depth` requests at once, reads their responses, repeats until told to close. */
async function pipeliningClient(
	port: number,
	body: string,
	depth: number,
	tally: Tally,
	stopAt: () => boolean,
) {
	const socket: Socket = connect(port, "127.0.0.1");
	socket.on("error", () => {});
	await new Promise((r) => socket.once("connect", r));
	const request = `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
	let buffer = "";
	let closed = false;
	const waiters: (() => void)[] = [];
	const wake = () => {
		for (const w of waiters.splice(0)) w();
	};
	socket.on("data", (d) => {
		buffer += d.toString("latin1");
		wake();
	});
	socket.on("close", () => {
		closed = true;
		wake();
	});
	/** Next whole response from the buffer: status and whether it says Connection: close. */
	const next = async (): Promise<
		{ status: number; close: boolean } | undefined
	> => {
		for (;;) {
			const end = buffer.indexOf("\r\n\r\n");
			if (end !== -1) {
				const head = buffer.slice(0, end);
				const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
				if (buffer.length >= end + 4 + length) {
					buffer = buffer.slice(end + 4 + length);
					return {
						status: Number(head.slice(9, 12)),
						close: /\r\nconnection: close/i.test(head),
					};
				}
			}
			if (closed) return undefined;
			await new Promise<void>((r) => waiters.push(r));
		}
	};
	try {
		for (;;) {
			socket.write(request.repeat(depth));
			tally.sent += depth;
			let sawClose = false;
			for (let i = 0; i < depth; i++) {
				const response = await next();
				if (!response) {
					tally.lost += depth - i;
					return;
				}
				if (response.status === 200) tally.ok++;
				else tally.other++;
				sawClose ||= response.close;
			}
			if (sawClose || stopAt()) return;
		}
	} finally {
		socket.destroy();
	}
}

describe("mdp-core serve SIGTERM under keep-alive and pipelining load", () => {
	it("answers every request written on an open connection (with Connection: close), loses none, exits 0", async () => {
		const body = await PREDICT_BODY();
		let server: ServeProcess | undefined;
		try {
			server = await startServeProcess({ args: ["--batch-max-rows", "0"] });
			const port = Number(new URL(server.url).port);
			const tally: Tally = { sent: 0, ok: 0, other: 0, lost: 0 };
			let deadline = Number.POSITIVE_INFINITY;
			const stopAt = () => Date.now() > deadline;
			const clients = [
				...Array.from({ length: 16 }, () =>
					keepAliveClient(port, body, tally, stopAt),
				),
				...Array.from({ length: 4 }, () =>
					pipeliningClient(port, body, 4, tally, stopAt),
				),
			];
			await new Promise((r) => setTimeout(r, 500)); // load is flowing
			const sentBefore = tally.sent;
			deadline = Date.now() + 8000; // bounded even if the server never closed
			const code = server.stop(15_000);
			await Promise.all(clients);
			expect(await code).toBe(0);
			expect(tally.sent).toBeGreaterThan(sentBefore);
			expect(tally).toEqual({
				sent: tally.sent,
				ok: tally.sent,
				other: 0,
				lost: 0,
			});
		} finally {
			await server?.stop(1000);
		}
	}, 40_000);
});
