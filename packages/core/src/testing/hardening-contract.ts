import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GoldenCase, readGoldenSet } from "../golden.ts";
import { referenceBundleDir } from "../reference-bundle.ts";

/** What {@link describeHardeningContract} runs against: a served reference model over plain HTTP. */
export interface HardeningTarget {
	url: string;
	stop(): Promise<void>;
	/** The deployment's own limits, when it has some (the suite stays under them). */
	limits?: { maxBodyBytes?: number; maxRecords?: number };
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field.
type Json = any;

/**
 * The hardening cases of issue 14, over HTTP only, for any deployment serving the reference model
 * (penguins): deep nesting, output names that are object built-ins, numbers that overflow float32, a
 * version without a model, clients that abort mid-body and slow bodies that must not starve legitimate
 * requests. Each bad request must get a 4xx with a JSON error saying what is wrong, never a 5xx or a
 * wrong 200, and the deployment must keep giving the known answers. Bounded in requests and seconds.
 *
 * @example
 * describeHardeningContract("mdp-core serve", async () => {
 *   const server = await startServeProcess();
 *   return { url: server.url, stop: async () => void (await server.stop()) };
 * });
 */
export function describeHardeningContract(
	name: string,
	setup: () => Promise<HardeningTarget>,
): void {
	describe(`${name}: hardening contract`, () => {
		let target: HardeningTarget | undefined;
		let golden: GoldenCase[];
		const url = () => (target as HardeningTarget).url;
		beforeAll(async () => {
			golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
			target = await setup();
		}, 120_000);
		afterAll(async () => {
			await target?.stop();
		}, 60_000);

		const send = (path: string, body: string) =>
			fetch(`${url()}${path}`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body,
				signal: AbortSignal.timeout(15_000),
			});
		/** A 4xx JSON error whose message matches; returns it. */
		async function refused(res: Response, message: RegExp) {
			const text = await res.text();
			expect(res.status, text.slice(0, 300)).toBeGreaterThanOrEqual(400);
			expect(res.status, text.slice(0, 300)).toBeLessThan(500);
			const body = JSON.parse(text) as Json;
			expect(body.error).toMatch(message);
			return body;
		}
		const record = () => ({ ...(golden[0] as GoldenCase).record });
		/** The deployment still gives the known answers. */
		async function stillRight() {
			const cases = golden.slice(0, 5);
			const res = await send(
				"/predict",
				JSON.stringify({ records: cases.map((g) => g.record) }),
			);
			expect(res.status).toBe(200);
			const body = (await res.json()) as Json;
			expect(body.predictions.map((p: Json) => p.label)).toEqual(
				cases.map((g) => g.expected.label),
			);
		}

		it("refuses deep nesting anywhere with a 400 (no stack overflow, no 500)", async () => {
			// Small enough for any body limit, deep enough to overflow a recursive validator.
			const depth = Math.min(
				5000,
				Math.floor(((target?.limits?.maxBodyBytes ?? 1_048_576) - 200) / 2),
			);
			const deep = `${"[".repeat(depth)}1${"]".repeat(depth)}`;
			for (const [path, body] of [
				[
					"/v2/models/penguins/infer",
					`{"inputs":[{"name":"Island","shape":[1],"datatype":"BYTES","data":${deep}}]}`,
				],
				["/predict", `{"records":[{"Island":${deep}}]}`],
				["/predict", deep],
			] as const) {
				await refused(await send(path, body), /nested|depth|deep/i);
			}
			await stillRight();
		});

		it("refuses OIP output names that are object built-ins, naming them", async () => {
			for (const output of [
				"constructor",
				"__proto__",
				"toString",
				"valueOf",
			]) {
				const res = await send(
					"/v2/models/penguins/infer",
					JSON.stringify({
						inputs: [
							{
								name: "Island",
								shape: [1],
								datatype: "BYTES",
								data: ["Dream"],
							},
						],
						outputs: [{ name: output }],
					}),
				);
				await refused(res, new RegExp(`unknown output "${output}"`));
			}
		});

		it("refuses a number that overflows float32 with a 400 naming the field", async () => {
			for (const value of [1e41, -1e39, Number.MAX_VALUE]) {
				const res = await send(
					"/predict",
					JSON.stringify({
						records: [{ ...record(), "Body Mass (g)": value }],
					}),
				);
				await refused(res, /Body Mass \(g\)/);
			}
			const overflowing: Record<string, unknown> = {
				...record(),
				"Body Mass (g)": 1e41,
			};
			const oip = await send(
				"/v2/models/penguins/infer",
				JSON.stringify({
					inputs: Object.entries(overflowing).map(([input, value]) => ({
						name: input,
						shape: [1],
						datatype: typeof value === "number" ? "FP32" : "BYTES",
						data: [value],
					})),
				}),
			);
			await refused(oip, /Body Mass \(g\)/);
		});

		it("refuses /predict with a version but no model", async () => {
			const res = await send(
				"/predict",
				JSON.stringify({ version: "1.0.0", records: [record()] }),
			);
			await refused(res, /version/);
		});

		it("survives clients that abort mid-body, and keeps answering right", async () => {
			const { hostname, port } = new URL(url());
			for (let i = 0; i < 5; i++) {
				const socket = await open(hostname, Number(port));
				socket.write(
					'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"records":[',
				);
				await new Promise((r) => setTimeout(r, 20));
				socket.destroy();
			}
			await stillRight();
		});

		it("keeps serving legitimate requests while slow bodies trickle", async () => {
			const { hostname, port } = new URL(url());
			const body = JSON.stringify({ records: [record()] });
			const slow: { socket: Socket; timer: NodeJS.Timeout }[] = [];
			try {
				for (let i = 0; i < 40; i++) {
					const socket = await open(hostname, Number(port));
					socket.write(
						`POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
					);
					let sent = 0;
					const timer = setInterval(() => {
						if (sent < body.length - 1 && !socket.destroyed)
							socket.write(body[sent++] as string);
					}, 200);
					slow.push({ socket, timer });
				}
				// Each legitimate request has 15 s (AbortSignal in send): starved ones fail the case.
				const statuses: number[] = [];
				for (let round = 0; round < 5; round++) {
					const answers = await Promise.all(
						golden
							.slice(0, 8)
							.map((g) =>
								send("/predict", JSON.stringify({ records: [g.record] })),
							),
					);
					for (const a of answers) {
						statuses.push(a.status);
						await a.arrayBuffer();
					}
				}
				expect(statuses).toEqual(statuses.map(() => 200));
			} finally {
				for (const s of slow) {
					clearInterval(s.timer);
					s.socket.destroy();
				}
			}
		}, 30_000);
	});
}

function open(host: string, port: number): Promise<Socket> {
	return new Promise((resolve, reject) => {
		const socket = connect(port, host.replace(/^\[|\]$/g, ""));
		socket.once("connect", () => {
			socket.off("error", reject);
			socket.on("error", () => {});
			resolve(socket);
		});
		socket.once("error", reject);
	});
}
