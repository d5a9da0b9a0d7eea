import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { type GoldenCase, readGoldenSet } from "../golden.ts";
import { loadBundle } from "../load-bundle.ts";
import { ModelHost } from "../model-host.ts";
import { referenceBundleDir } from "../reference-bundle.ts";
import { writeBundle } from "../write-bundle.ts";
import { type CreateAppOptions, createApp } from "./create-app.ts";
import { type StartServerOptions, startServer } from "./serve.ts";

// Issue 14: what a hostile or broken client found. Each case names the defect it guards against.

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field.
type Json = any;

let golden: GoldenCase[];
beforeAll(async () => {
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
});
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
	for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
	options: Omit<CreateAppOptions, "host"> & {
		batching?: { maxBatchRows: number; maxDelayMs?: number };
	} = {},
) {
	const host = new ModelHost({ batching: options.batching });
	await host.load(referenceBundleDir);
	const unexpected: unknown[] = [];
	const serving = createApp({
		...options,
		host,
		onUnexpectedError: (error) => unexpected.push(error),
	});
	cleanups.push(async () => {
		serving.close();
		await host.close();
	});
	return { host, unexpected, ...serving };
}

const post = (body: unknown) => ({
	method: "POST",
	body: typeof body === "string" ? body : JSON.stringify(body),
	headers: { "content-type": "application/json" },
});
const record = () => ({ ...(golden[0] as GoldenCase).record });
const oneInput = (data: unknown) => ({
	inputs: [{ name: "Island", shape: [1], datatype: "BYTES", data }],
});

describe("1. deep nesting is a 400 naming the depth, never a 500", () => {
	const deep = (depth: number, inner = "1") =>
		`${"[".repeat(depth)}${inner}${"]".repeat(depth)}`;
	it.each([
		[
			"OIP tensor data",
			"/v2/models/penguins/infer",
			`{"inputs":[{"name":"Island","shape":[1],"datatype":"BYTES","data":${deep(5000)}}]}`,
		],
		[
			"a /predict field value",
			"/predict",
			`{"records":[{"Island":${deep(5000)}}]}`,
		],
		["objects", "/predict", `${'{"a":'.repeat(5000)}1${"}".repeat(5000)}`],
		["the top level", "/predict", deep(100_000)],
	])("in %s", async (_name, path, body) => {
		const { app, unexpected } = await setup();
		const res = await app.request(path, post(body));
		expect(res.status).toBe(400);
		expect(((await res.json()) as Json).error).toMatch(
			/^body: JSON nested deeper than 64 levels \(at character \d+\)$/,
		);
		expect(unexpected).toEqual([]);
	});

	it("nesting within the limit but wrong for the field is a 400 naming the field", async () => {
		const { app } = await setup();
		const res = await app.request(
			"/predict",
			post(`{"records":[{"Island":${deep(60)}}]}`),
		);
		expect(res.status).toBe(400);
		expect(((await res.json()) as Json).error).toMatch(
			/record 0, field "Island": expected one of .*, got an array/,
		);
		const nestedData = await app.request(
			"/v2/models/penguins/infer",
			post(oneInput(JSON.parse(deep(60, '"Dream"')))),
		);
		expect(nestedData.status).toBe(200);
	});
});

describe("2. OIP outputs name only the model's outputs", () => {
	it.each([
		"constructor",
		"toString",
		"valueOf",
		"__proto__",
		"hasOwnProperty",
	])("%s is a 400 naming it", async (name) => {
		const { app } = await setup();
		const res = await app.request(
			"/v2/models/penguins/infer",
			post({ ...oneInput(["Dream"]), outputs: [{ name: "label" }, { name }] }),
		);
		expect(res.status).toBe(400);
		expect(((await res.json()) as Json).error).toBe(
			`outputs[1]: unknown output "${name}"; the model's outputs are "label", "probabilities"`,
		);
	});
});

describe("3. numbers that overflow float32 are a 400 naming the field; no non-finite probability ever", () => {
	it.each([1e41, -1e39, 3.5e38, Number.MAX_VALUE])("%s", async (value) => {
		const { app } = await setup();
		const res = await app.request(
			"/predict",
			post({ records: [record(), { ...record(), "Body Mass (g)": value }] }),
		);
		expect(res.status).toBe(400);
		const body = (await res.json()) as Json;
		expect(body.error).toMatch(
			/^record 1, field "Body Mass \(g\)": expected a finite number, got number .*not finite in float32/,
		);
		expect(body.issues.map((i: Json) => [i.record, i.field])).toEqual([
			[1, "Body Mass (g)"],
		]);
	});

	it("the largest float32 values either predict with finite probabilities or are refused with a 400", async () => {
		const { app } = await setup();
		for (const value of [3.4e38, -3.4e38, 1e30, 1e-45]) {
			for (const field of ["Body Mass (g)", "Beak Length (mm)"]) {
				const res = await app.request(
					"/predict",
					post({ records: [{ ...record(), [field]: value }] }),
				);
				const body = (await res.json()) as Json;
				if (res.status === 200) {
					const p = Object.values(body.predictions[0].probabilities);
					expect(
						p.every((x) => Number.isFinite(x)),
						`${field}=${value}`,
					).toBe(true);
				} else {
					expect(res.status, `${field}=${value}`).toBe(400);
					expect(body.error).toMatch(/record 0/);
				}
			}
		}
	});
});

describe("a chunked body (no Content-Length) over the limit", () => {
	it("is a 413 like any other, not a client abort", async () => {
		const { app, unexpected } = await setup({ limits: { maxBodyBytes: 1000 } });
		const chunk = new TextEncoder().encode(" ".repeat(600));
		const res = await app.request("/predict", {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: new ReadableStream({
				pull(controller) {
					controller.enqueue(chunk);
				},
			}),
			duplex: "half",
		} as RequestInit);
		expect(res.status).toBe(413);
		expect(((await res.json()) as Json).error).toBe(
			"request body exceeds the limit of 1000 bytes",
		);
		expect(unexpected).toEqual([]);
		const text = await (await app.request("/metrics")).text();
		expect(text).toContain('route="/predict",method="POST",status="413"} 1');
	});
});

describe("a record's __proto__ key", () => {
	it("never supplies a feature: a field absent from the record is still absent", async () => {
		const { app } = await setup();
		const { Island: _island, ...rest } = record();
		const res = await app.request(
			"/predict",
			post(
				`{"records":[${JSON.stringify(rest).slice(0, -1)},"__proto__":{"Island":"Dream"}}]}`,
			),
		);
		expect(res.status).toBe(400);
		expect(((await res.json()) as Json).issues).toMatchObject([
			{ record: 0, field: "Island", got: "nothing (field absent)" },
		]);
	});
});

describe("/predict with a version but no model", () => {
	it("is a 400, not the default model", async () => {
		const { app } = await setup();
		const res = await app.request(
			"/predict",
			post({ version: "9.9.9", records: [record()] }),
		);
		expect([res.status, ((await res.json()) as Json).error]).toEqual([
			400,
			"version: given without model; name the model whose version this is",
		]);
	});
});

describe("error bodies stay small whatever the request", () => {
	it("lists at most 50 issues and counts the rest", async () => {
		const { app } = await setup();
		const bad = Array.from({ length: 1000 }, () => ({
			Island: 1,
			Sex: 2,
			"Body Mass (g)": "x",
			"Beak Length (mm)": "y",
			"Beak Depth (mm)": "z",
			"Flipper Length (mm)": "w",
		}));
		const res = await app.request("/predict", post({ records: bad }));
		const text = await res.text();
		const body = JSON.parse(text);
		expect(res.status).toBe(400);
		expect(body.issues).toHaveLength(50);
		// Six features with a wrong type in each of the 1,000 records.
		expect(body.issues_omitted).toBe(6000 - 50);
		expect(body.error).toMatch(/\(and 5999 more\)$/);
		expect(body.issues[0]).toMatchObject({ record: 0, field: "Island" });
		expect(text.length).toBeLessThan(20_000);
	});

	it("cuts echoed names: a 900 KB model name gives a small 404", async () => {
		const { app } = await setup();
		const name = "w".repeat(900_000);
		for (const [path, body] of [
			["/predict", { model: name, records: [record()] }],
			[`/v2/models/${name}/infer`, oneInput(["Dream"])],
		] as const) {
			const res = await app.request(path, post(body));
			const text = await res.text();
			expect(res.status, path.slice(0, 20)).toBe(404);
			expect(text.length, path.slice(0, 20)).toBeLessThan(3000);
			expect(JSON.parse(text).error).toMatch(
				/unknown model "w+… \(899900 more characters\)"/,
			);
		}
		const res = await app.request(`/nowhere/${name}`);
		expect(res.status).toBe(404);
		expect((await res.text()).length).toBeLessThan(1000);
	});

	it("caps many schema issues too", async () => {
		const { app } = await setup();
		const res = await app.request(
			"/v2/models/penguins/infer",
			post({
				inputs: Array.from({ length: 500 }, () => ({ name: 1, shape: "x" })),
			}),
		);
		expect(res.status).toBe(400);
		const { error } = (await res.json()) as Json;
		expect(error).toMatch(/and \d+ more issues$/);
		expect(error.length).toBeLessThan(5000);
	});
});

describe("a request that timed out keeps its admission slot until its work ends", () => {
	it("admits nothing more while the timed-out prediction still runs", async () => {
		const serving = await setup({
			batching: { maxBatchRows: 1000, maxDelayMs: 400 },
			limits: { maxInFlight: 1, requestTimeoutMs: 30 },
		});
		const first = await serving.app.request(
			"/predict",
			post({ records: [record()] }),
		);
		expect(first.status).toBe(504);
		expect(serving.inFlight()).toBe(1);
		const second = await serving.app.request(
			"/predict",
			post({ records: [record()] }),
		);
		expect(second.status).toBe(503);
		for (let i = 0; i < 300 && serving.inFlight() > 0; i++)
			await new Promise((r) => setTimeout(r, 10));
		expect(serving.inFlight()).toBe(0);
		const third = await serving.app.request(
			"/predict",
			post({ records: [(golden[1] as GoldenCase).record] }),
		);
		expect(third.status).toBe(504); // the batching window still outlives the deadline
		expect(serving.inFlight()).toBe(1);
	});
});

describe("data outside the training distribution is counted in /metrics", () => {
	it("per feature: out-of-range numbers, imputed missing values and unseen categories", async () => {
		const { app } = await setup({ batching: { maxBatchRows: 8 } });
		const metric = async (name: string, feature: string) =>
			Number(
				new RegExp(
					`${name}\\{model="penguins",feature="${feature.replace(/[()]/g, "\\$&")}"\\} (\\d+)`,
				).exec(await (await app.request("/metrics")).text())?.[1] ?? 0,
			);
		expect(
			await metric("mdp_feature_out_of_range_total", "Body Mass (g)"),
		).toBe(0);
		const ok = await app.request(
			"/predict",
			post({
				records: [
					{ ...record(), "Body Mass (g)": 9000 }, // training max 6300
					{ ...record(), "Body Mass (g)": 1000, "Beak Length (mm)": null },
					record(),
				],
			}),
		);
		expect(ok.status).toBe(200);
		const refused = await app.request(
			"/predict",
			post({ records: [{ ...record(), Island: "Mars" }] }),
		);
		expect(refused.status).toBe(400);
		expect(
			await metric("mdp_feature_out_of_range_total", "Body Mass (g)"),
		).toBe(2);
		expect(await metric("mdp_feature_imputed_total", "Beak Length (mm)")).toBe(
			1,
		);
		expect(await metric("mdp_feature_unseen_category_total", "Island")).toBe(1);
		// Counters advance by what is new, scrape after scrape.
		await app.request(
			"/predict",
			post({ records: [{ ...record(), "Body Mass (g)": 7000 }] }),
		);
		expect(
			await metric("mdp_feature_out_of_range_total", "Body Mass (g)"),
		).toBe(3);
		expect(
			await metric("mdp_feature_out_of_range_total", "Flipper Length (mm)"),
		).toBe(0);
	});
});

describe("6. a tampered manifest never replaces a working model", () => {
	it("a hot load with labels reordered after writing is a 400, and the old model keeps answering right", async () => {
		const root = await mkdtemp(join(tmpdir(), "mdp-tamper-"));
		cleanups.push(() => rm(root, { recursive: true, force: true }));
		const { manifest, modelBytes } = await loadBundle(referenceBundleDir);
		const dir = join(root, "penguins");
		await writeBundle(dir, { manifest, modelBytes });
		const { app } = await setup({
			batching: { maxBatchRows: 64 },
			repository: { root, adminToken: "s3cret" },
		});
		const load = () =>
			app.request("/v2/repository/models/penguins/load", {
				method: "POST",
				headers: { authorization: "Bearer s3cret" },
			});
		expect((await load()).status).toBe(200);
		const path = join(dir, "mdp.json");
		const edited = JSON.parse(await readFile(path, "utf8"));
		edited.target.labels.reverse();
		edited.version = "6.6.6";
		await writeFile(path, `${JSON.stringify(edited, null, 2)}\n`);
		const refused = await load();
		expect(refused.status).toBe(400);
		expect(((await refused.json()) as Json).error).toMatch(
			/bundle digest .* mdp\.json or model\.onnx was changed/,
		);
		const cases = golden.slice(0, 8);
		const res = await app.request(
			"/predict",
			post({ records: cases.map((g) => g.record) }),
		);
		const body = (await res.json()) as Json;
		expect(body.model.version).toBe("1.0.0");
		expect(body.predictions).toEqual(cases.map((g) => g.expected));
	});
});

describe("over a real socket", () => {
	async function served(
		options: Omit<CreateAppOptions, "host"> = {},
		serverOptions: StartServerOptions = {},
	) {
		const s = await setup(options);
		const server = await startServer(s, serverOptions);
		cleanups.push(() => server.close({ timeoutMs: 1000 }));
		return { ...s, server };
	}

	it("4. a client that aborts mid-body is counted as aborted, not as a server error, and told once", async () => {
		const aborts: string[] = [];
		const { server, app, unexpected } = await served({
			onClientAbort: ({ method, path }) => aborts.push(`${method} ${path}`),
		});
		for (const framing of [
			"Content-Length: 1000\r\n\r\n{",
			'Transfer-Encoding: chunked\r\n\r\n5\r\n{"rec\r\n',
			"Content-Length: 1000\r\n\r\n",
		]) {
			const socket = connect(server.port, "127.0.0.1");
			await new Promise((r) => socket.once("connect", r));
			socket.write(
				`POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${framing}`,
			);
			await new Promise((r) => setTimeout(r, 50));
			socket.destroy();
		}
		let text = "";
		for (let i = 0; i < 100; i++) {
			text = await (await app.request("/metrics")).text();
			if (text.includes('status="aborted"} 3')) break;
			await new Promise((r) => setTimeout(r, 10));
		}
		expect(text).toContain(
			'mdp_http_requests_total{route="/predict",method="POST",status="aborted"} 3',
		);
		expect(text).not.toMatch(/status="5\d\d"/);
		expect(unexpected).toEqual([]);
		expect(aborts).toEqual(["POST /predict", "POST /predict", "POST /predict"]);
		expect(text).toContain("mdp_http_requests_in_flight 0");
	});

	it("5. a request whose body does not arrive within the request timeout gets 408 and a closed connection", async () => {
		const { server } = await served({}, { requestTimeoutMs: 300 });
		const socket = connect(server.port, "127.0.0.1");
		cleanups.push(() => {
			socket.destroy();
		});
		let answer = "";
		socket.on("data", (d) => {
			answer += d.toString();
		});
		const closed = new Promise((r) => socket.once("close", r));
		socket.write(
			"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
		);
		const trickle = setInterval(() => socket.write(" "), 100);
		cleanups.push(() => clearInterval(trickle));
		await closed; // bounded by the test timeout: without a request timeout it would trickle on
		clearInterval(trickle);
		expect(answer).toMatch(/^HTTP\/1\.1 408 /);
	});

	it("5. slow uploads never hold an in-flight slot: legitimate requests keep being served while they trickle", async () => {
		const { server, inFlight } = await served({ limits: { maxInFlight: 4 } });
		const body = JSON.stringify({ records: [record()] });
		const slow = Array.from({ length: 12 }, () => {
			const socket = connect(server.port, "127.0.0.1");
			socket.on("error", () => {});
			socket.write(
				`POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
			);
			let sent = 0;
			const timer = setInterval(() => {
				if (sent < body.length - 1) socket.write(body[sent++] as string);
			}, 100);
			return { socket, timer };
		});
		cleanups.push(() => {
			for (const s of slow) {
				clearInterval(s.timer);
				s.socket.destroy();
			}
		});
		await new Promise((r) => setTimeout(r, 300)); // every slow upload has started
		const statuses: number[] = [];
		for (let round = 0; round < 5; round++) {
			const responses = await Promise.all(
				golden.slice(0, 4).map((g) =>
					fetch(`${server.url}/predict`, {
						method: "POST",
						headers: { "content-type": "application/json" },
						body: JSON.stringify({ records: [g.record] }),
					}),
				),
			);
			for (const r of responses) {
				statuses.push(r.status);
				await r.arrayBuffer();
			}
		}
		expect(statuses).toEqual(statuses.map(() => 200));
		expect(inFlight()).toBe(0);
	});
});
