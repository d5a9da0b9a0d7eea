import { readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { compareToGolden, type GoldenCase, readGoldenSet } from "../golden.ts";
import { loadBundle, parseManifestText } from "../load-bundle.ts";
import { ModelHost } from "../model-host.ts";
import { referenceBundleDir } from "../reference-bundle.ts";
import { writeBundle } from "../write-bundle.ts";
import { type CreateAppOptions, createApp } from "./create-app.ts";
import { toInferRequest } from "./oip.ts";

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field.
type Json = any;
const loose = (value: unknown): Json => value;

let golden: GoldenCase[];
let root: string;
const hosts: ModelHost[] = [];
beforeAll(async () => {
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
	root = await mkdtemp(join(tmpdir(), "mdp-app-"));
});
afterEach(async () => {
	for (const h of hosts.splice(0)) await h.close();
});
afterAll(() => rm(root, { recursive: true, force: true }));

async function setup(
	options: Omit<CreateAppOptions, "host"> & {
		batching?: { maxBatchRows: number; maxDelayMs?: number };
		load?: boolean;
	} = {},
) {
	const host = new ModelHost({ batching: options.batching });
	hosts.push(host);
	if (options.load !== false) await host.load(referenceBundleDir);
	return { host, ...createApp({ ...options, host }) };
}

const post = (body: unknown, headers: Record<string, string> = {}) => ({
	method: "POST",
	body: typeof body === "string" ? body : JSON.stringify(body),
	headers: { "content-type": "application/json", ...headers },
});

/** The golden records as one OIP request: one BYTES or FP32 input per feature, shape [N]. */
function toInfer(cases: GoldenCase[], id?: string) {
	return toInferRequest(
		cases.map((g) => g.record),
		parseManifestText(
			readFileSync(join(referenceBundleDir, "mdp.json"), "utf8"),
		).features,
		id,
	);
}

describe("health and metadata", () => {
	it("is live, and ready only with a model and while not draining", async () => {
		const empty = await setup({ load: false });
		expect((await empty.app.request("/v2/health/live")).status).toBe(200);
		const notReady = await empty.app.request("/v2/health/ready");
		expect([notReady.status, await notReady.json().then(loose)]).toEqual([
			503,
			{ ready: false },
		]);
		const served = await setup();
		expect(
			await (await served.app.request("/v2/health/ready")).json().then(loose),
		).toEqual({ ready: true });
		served.drain();
		expect((await served.app.request("/v2/health/ready")).status).toBe(503);
		expect((await served.app.request("/v2/models/penguins/ready")).status).toBe(
			503,
		);
	});

	it("describes the server and the model's tensors", async () => {
		const { app } = await setup();
		expect(await (await app.request("/v2")).json().then(loose)).toEqual({
			name: "mdp",
			version: "0.1.0",
			extensions: [],
		});
		const meta = await (await app.request("/v2/models/penguins/versions/1.0.0"))
			.json()
			.then(loose);
		expect(meta).toMatchObject({
			name: "penguins",
			versions: ["1.0.0"],
			platform: "onnx_onnxv1",
		});
		expect(meta.inputs).toContainEqual({
			name: "Island",
			datatype: "BYTES",
			shape: [-1],
		});
		expect(meta.inputs).toContainEqual({
			name: "Body Mass (g)",
			datatype: "FP32",
			shape: [-1],
		});
		expect(meta.outputs).toEqual([
			{ name: "label", datatype: "BYTES", shape: [-1] },
			{ name: "probabilities", datatype: "FP32", shape: [-1, 3] },
		]);
		expect(
			await (await app.request("/v2/models/penguins/ready")).json().then(loose),
		).toEqual({ name: "penguins", ready: true });
	});

	it("answers 404 with a JSON error for an unknown model, version or route", async () => {
		const { app } = await setup();
		for (const path of [
			"/v2/models/whales",
			"/v2/models/penguins/versions/9",
			"/v2/models/whales/ready",
			"/nowhere",
		]) {
			const res = await app.request(path);
			expect(res.status, path).toBe(404);
			expect(await res.json().then(loose), path).toHaveProperty(
				path.endsWith("ready") ? "ready" : "error",
			);
		}
		const res = await app.request(
			"/v2/models/whales/infer",
			post(toInfer(golden.slice(0, 1))),
		);
		expect(await res.json().then(loose)).toEqual({
			error: 'unknown model "whales"; served models: penguins',
		});
	});
});

describe("predictions", () => {
	it("POST /predict reproduces the golden set exactly, with Server-Timing", async () => {
		const { app } = await setup();
		const res = await app.request(
			"/predict",
			post({ records: golden.map((g) => g.record) }),
		);
		expect(res.status).toBe(200);
		const body = await res.json().then(loose);
		expect(body.model).toEqual({ name: "penguins", version: "1.0.0" });
		expect(compareToGolden(golden, body.predictions)).toEqual([]);
		expect(res.headers.get("server-timing")).toMatch(
			/^queue;dur=[\d.]+, features;dur=[\d.]+, inference;dur=[\d.]+$/,
		);
	});

	it("OIP infer reproduces the golden set exactly, echoes the id and honours the outputs selection", async () => {
		const { app } = await setup();
		const res = await app.request(
			"/v2/models/penguins/infer",
			post(toInfer(golden, "req-7")),
		);
		expect(res.status).toBe(200);
		const body = await res.json().then(loose);
		expect(body).toMatchObject({
			model_name: "penguins",
			model_version: "1.0.0",
			id: "req-7",
		});
		const [label, probabilities] = body.outputs;
		expect(label).toMatchObject({
			name: "label",
			datatype: "BYTES",
			shape: [golden.length],
		});
		expect(probabilities).toMatchObject({
			name: "probabilities",
			datatype: "FP32",
			shape: [golden.length, 3],
		});
		const predictions = golden.map((_, i) => ({
			label: label.data[i],
			probabilities: {
				Adelie: probabilities.data[3 * i],
				Chinstrap: probabilities.data[3 * i + 1],
				Gentoo: probabilities.data[3 * i + 2],
			},
		}));
		expect(compareToGolden(golden, predictions)).toEqual([]);
		const only = await (
			await app.request(
				"/v2/models/penguins/infer",
				post({ ...toInfer(golden.slice(0, 2)), outputs: [{ name: "label" }] }),
			)
		)
			.json()
			.then(loose);
		expect(only.outputs).toEqual([
			{
				name: "label",
				shape: [2],
				datatype: "BYTES",
				data: [golden[0]?.expected.label, golden[1]?.expected.label],
			},
		]);
	});

	it("accepts nested [N, 1] data and treats an absent input as missing", async () => {
		const { app } = await setup();
		const request = toInfer(golden.slice(0, 3));
		const nested = {
			inputs: request.inputs
				.filter((i) => i.name !== "Sex")
				.map((i) => ({ ...i, shape: [3, 1], data: i.data.map((v) => [v]) })),
		};
		const res = await app.request("/v2/models/penguins/infer", post(nested));
		expect(res.status).toBe(200);
		const withoutSex = await app.request(
			"/predict",
			post({
				records: golden.slice(0, 3).map(({ record: { Sex: _sex, ...r } }) => r),
			}),
		);
		const expected = (await withoutSex.json().then(loose)).predictions.map(
			(p: { label: string }) => p.label,
		);
		expect((await res.json().then(loose)).outputs[0].data).toEqual(expected);
	});
});

describe("bad input gets a 4xx with a JSON body saying what and where", () => {
	const record = (): Record<string, unknown> =>
		JSON.parse(
			readFileSync(join(referenceBundleDir, "golden.jsonl"), "utf8").split(
				"\n",
			)[0] as string,
		).record;
	it.each([
		["malformed JSON", "/predict", "{records: [", 400, /not valid JSON/],
		["an empty body", "/predict", "", 400, /body is empty/],
		[
			"records that are not an array",
			"/predict",
			{ records: { a: 1 } },
			400,
			/^records: .*expected array/,
		],
		[
			"a record that is not an object",
			"/predict",
			{ records: [1] },
			400,
			/^records\[0\]: .*expected record/,
		],
		[
			"a missing required feature",
			"/predict",
			{ records: [{ ...record(), Island: undefined }] },
			400,
			/record 0, field "Island": expected one of .* \(required: no default declared\), got nothing/,
		],
		[
			"an unknown category",
			"/predict",
			{ records: [record(), { ...record(), Island: "Mars" }] },
			400,
			/record 1, field "Island": .*unknown category string "Mars"/,
		],
		[
			"a string for a number",
			"/predict",
			{ records: [{ ...record(), "Body Mass (g)": "heavy" }] },
			400,
			/field "Body Mass \(g\)": expected a finite number, got string "heavy"/,
		],
		[
			"an unknown model",
			"/predict",
			{ model: "whales", records: [record()] },
			404,
			/unknown model "whales"/,
		],
		[
			"an OIP input of the wrong datatype",
			"/v2/models/penguins/infer",
			{ inputs: [{ name: "Island", shape: [1], datatype: "FP32", data: [1] }] },
			400,
			/inputs\[0\] \("Island"\): datatype FP32, expected BYTES/,
		],
		[
			"an OIP shape that does not match the data",
			"/v2/models/penguins/infer",
			{
				inputs: [
					{ name: "Island", shape: [2], datatype: "BYTES", data: ["Dream"] },
				],
			},
			400,
			/holds 2 elements but data has 1/,
		],
		[
			"OIP inputs with different row counts",
			"/v2/models/penguins/infer",
			{
				inputs: [
					{ name: "Island", shape: [1], datatype: "BYTES", data: ["Dream"] },
					{
						name: "Sex",
						shape: [2],
						datatype: "BYTES",
						data: ["MALE", "MALE"],
					},
				],
			},
			400,
			/1 rows, but earlier inputs have|2 rows, but earlier inputs have 1/,
		],
		[
			"an unknown OIP input",
			"/v2/models/penguins/infer",
			{ inputs: [{ name: "Wings", shape: [1], datatype: "FP32", data: [2] }] },
			400,
			/inputs\[0\] \("Wings"\): unknown input/,
		],
		[
			"an unknown OIP output",
			"/v2/models/penguins/infer",
			{
				inputs: [
					{ name: "Island", shape: [1], datatype: "BYTES", data: ["Dream"] },
				],
				outputs: [{ name: "embedding" }],
			},
			400,
			/unknown output "embedding"/,
		],
		[
			"an unknown OIP datatype",
			"/v2/models/penguins/infer",
			{
				inputs: [
					{ name: "Island", shape: [1], datatype: "STRING", data: ["Dream"] },
				],
			},
			400,
			/^inputs\[0\]\.datatype: /,
		],
	])("%s", async (_name, path, body, status, message) => {
		const { app } = await setup();
		const res = await app.request(path, post(body));
		expect(res.status).toBe(status);
		expect(res.headers.get("content-type")).toMatch(/application\/json/);
		expect((await res.json().then(loose)).error).toMatch(message);
	});

	it("names every field issue of every record", async () => {
		const { app } = await setup();
		const res = await app.request(
			"/predict",
			post({
				records: [
					{ ...golden[0]?.record, Island: 3 },
					golden[1]?.record,
					{ ...golden[2]?.record, Sex: "X" },
				],
			}),
		);
		const body = await res.json().then(loose);
		expect(
			body.issues.map((i: { record: number; field: string }) => [
				i.record,
				i.field,
			]),
		).toEqual([
			[0, "Island"],
			[2, "Sex"],
		]);
	});

	it("refuses an oversized body with 413", async () => {
		const { app } = await setup({ limits: { maxBodyBytes: 1000 } });
		const res = await app.request(
			"/predict",
			post({ records: golden.map((g) => g.record) }),
		);
		expect(res.status).toBe(413);
		expect((await res.json().then(loose)).error).toMatch(
			/exceeds the limit of 1000 bytes/,
		);
	});

	it("refuses too many records with 413", async () => {
		const { app } = await setup({ limits: { maxRecords: 10 } });
		const res = await app.request(
			"/predict",
			post({ records: golden.slice(0, 11).map((g) => g.record) }),
		);
		expect([res.status, (await res.json().then(loose)).error]).toEqual([
			413,
			"11 records in one request; the limit is 10",
		]);
	});
});

describe("overload and deadlines", () => {
	it("answers 503 with Retry-After beyond the in-flight limit, and serves the rest", async () => {
		const { app } = await setup({ limits: { maxInFlight: 4 } });
		const responses = await Promise.all(
			golden
				.slice(0, 40)
				.map((g) => app.request("/predict", post({ records: [g.record] }))),
		);
		const statuses = responses.map((r) => r.status);
		expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(4);
		const refused = responses.filter((r) => r.status === 503);
		expect(refused.length).toBeGreaterThan(0);
		const first = refused[0] as Response;
		expect(first.headers.get("retry-after")).toBe("1");
		expect((await first.json().then(loose)).error).toMatch(
			/server busy: 4 predictions in flight \(limit 4\)/,
		);
		expect((await app.request("/v2/health/live")).status).toBe(200);
	});

	it("answers 504 when a prediction outlives the request timeout", async () => {
		const { app } = await setup({
			batching: { maxBatchRows: 1000, maxDelayMs: 2000 },
			limits: { requestTimeoutMs: 50 },
		});
		const res = await app.request(
			"/predict",
			post({ records: [golden[0]?.record] }),
		);
		expect([res.status, (await res.json().then(loose)).error]).toEqual([
			504,
			"prediction took longer than 50 ms",
		]);
	});

	it("reports the predictions in flight on /metrics while they run, and 0 once answered", async () => {
		const { app } = await setup({
			batching: { maxBatchRows: 1000, maxDelayMs: 400 },
		});
		const inFlight = async () =>
			/mdp_http_requests_in_flight (\d+)/.exec(
				await (await app.request("/metrics")).text(),
			)?.[1];
		const pending = [0, 1].map(() =>
			app.request("/predict", post({ records: [golden[0]?.record] })),
		);
		let seen: string | undefined;
		for (let i = 0; i < 30 && seen !== "2"; i++) {
			seen = await inFlight();
			if (seen !== "2") await new Promise((r) => setTimeout(r, 10));
		}
		expect(seen).toBe("2");
		expect((await Promise.all(pending)).map((r) => r.status)).toEqual([
			200, 200,
		]);
		expect(await inFlight()).toBe("0");
	});
});

describe("metrics and OpenAPI", () => {
	it("exposes mdp_ latency histograms, statuses, batch sizes and model info", async () => {
		const { app } = await setup({ batching: { maxBatchRows: 16 } });
		await Promise.all(
			golden
				.slice(0, 20)
				.map((g) => app.request("/predict", post({ records: [g.record] }))),
		);
		await app.request("/predict", post("{"));
		const text = await (await app.request("/metrics")).text();
		expect(text).toContain(
			'mdp_http_requests_total{route="/predict",method="POST",status="200"} 20',
		);
		expect(text).toContain(
			'mdp_http_requests_total{route="/predict",method="POST",status="400"} 1',
		);
		// Process metrics are process-wide: only an app that asks (the server) exports them.
		expect(text).not.toContain("nodejs_eventloop_lag");
		expect(text).toMatch(
			/mdp_http_request_duration_seconds_bucket\{le="0.001",route="\/predict",method="POST"\} \d+/,
		);
		expect(text).toContain(
			'mdp_predictions_total{model="penguins",version="1.0.0"} 20',
		);
		expect(text).toMatch(/mdp_batch_rows_count\{model="penguins"\} \d+/);
		expect(text).toMatch(
			/mdp_inference_stage_duration_seconds_bucket\{le="[\d.]+",model="penguins",stage="queue"\}/,
		);
		expect(text).toMatch(
			/mdp_model_info\{model="penguins",version="1.0.0",sha256="[0-9a-f]{64}"\} 1/,
		);
		expect(text).toContain("mdp_http_requests_in_flight 0");
		expect(text).not.toMatch(/quantile=/);
	});

	it("documents every registered route, and only those, with the schemas that validate requests", async () => {
		const { app } = await setup();
		const doc = await (await app.request("/openapi.json")).json().then(loose);
		expect(doc.openapi).toBe("3.1.0");
		// What the app really serves (middleware is registered as ALL), in OpenAPI's path form.
		const served = app.routes
			.filter((r) => r.method !== "ALL")
			.map(
				(r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, "{$1}")}`,
			);
		const documented = Object.entries(
			doc.paths as Record<string, Record<string, unknown>>,
		).flatMap(([path, methods]) =>
			Object.keys(methods).map((method) => `${method} ${path}`),
		);
		expect(served.length).toBeGreaterThanOrEqual(17);
		expect(new Set(documented)).toEqual(new Set(served));
		expect(documented).toHaveLength(new Set(documented).size);
		for (const route of served) {
			const [method, path] = route.split(" ") as [string, string];
			const entry = doc.paths[path][method];
			expect(entry.summary, route).toMatch(/\w/);
			expect(Object.keys(entry.responses), route).toContain("200");
			if (path.includes("{name}"))
				expect(entry.parameters, route).toContainEqual(
					expect.objectContaining({ name: "name", in: "path" }),
				);
		}
		expect(
			doc.paths["/predict"].post.requestBody.content["application/json"].schema,
		).toEqual({
			$ref: "#/components/schemas/PredictRequest",
		});
		const body = doc.components.schemas.PredictRequest;
		expect(body.required).toEqual(["records"]);
		expect(body.properties.records.type).toBe("array");
		expect(doc.paths["/v2/models/{name}/infer"].post.responses).toHaveProperty(
			"413",
		);
		expect(doc.paths["/v2/admin/drain"].post.security).toEqual([
			{ adminToken: [] },
		]);
	});

	it("close() detaches the app from its host: a closed app no longer counts batches", async () => {
		const { app, host, close } = await setup({
			batching: { maxBatchRows: 16 },
		});
		const second = createApp({ host });
		const batches = async (a: typeof app) =>
			Number(
				/mdp_batch_rows_count\{model="penguins"\} (\d+)/.exec(
					await (await a.request("/metrics")).text(),
				)?.[1] ?? 0,
			);
		await app.request("/predict", post({ records: [golden[0]?.record] }));
		expect(await batches(app)).toBe(1);
		expect(await batches(second.app)).toBe(1);
		close();
		await second.app.request(
			"/predict",
			post({ records: [golden[1]?.record] }),
		);
		expect(await batches(second.app)).toBe(2);
		expect(await batches(app)).toBe(1);
		second.close();
	});
});

describe("model repository", () => {
	async function repository() {
		const dir = await mkdtemp(join(root, "repo-"));
		await cp(referenceBundleDir, join(dir, "penguins"), { recursive: true });
		return dir;
	}
	const auth = { authorization: "Bearer s3cret" };

	it("is off without a model root and token", async () => {
		const { app } = await setup();
		const res = await app.request(
			"/v2/repository/models/penguins/load",
			post("", auth),
		);
		expect([res.status, (await res.json().then(loose)).error]).toEqual([
			403,
			expect.stringMatching(/repository is off/),
		]);
	});

	it("refuses a missing or wrong token with 401", async () => {
		const { app } = await setup({
			repository: { root: await repository(), adminToken: "s3cret" },
		});
		for (const headers of [{}, { authorization: "Bearer guess" }] as Record<
			string,
			string
		>[]) {
			const res = await app.request(
				"/v2/repository/models/penguins/load",
				post("", headers),
			);
			expect(res.status).toBe(401);
			expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
		}
	});

	it("refuses names that escape the root with 400 and reads nothing", async () => {
		const dir = await repository();
		await mkdir(join(root, "outside"), { recursive: true });
		await cp(referenceBundleDir, join(root, "outside", "penguins"), {
			recursive: true,
		});
		await symlink(join(root, "outside", "penguins"), join(dir, "linked"));
		const { app, host } = await setup({
			load: false,
			repository: { root: dir, adminToken: "s3cret" },
		});
		for (const name of [
			"..%2F..%2Fetc",
			"%2E%2E%2Fpenguins",
			".hidden",
			"linked",
		]) {
			const res = await app.request(
				`/v2/repository/models/${name}/load`,
				post("", auth),
			);
			expect(res.status, name).toBe(400);
			expect((await res.json().then(loose)).error, name).toMatch(
				/not a model name|outside the model repository/,
			);
		}
		expect(host.ready).toBe(false);
	});

	it("loads, hot-swaps a new version, keeps the old one on a bad bundle, and unloads", async () => {
		const dir = await repository();
		const { app } = await setup({
			repository: { root: dir, adminToken: "s3cret" },
		});
		expect(
			await (await app.request("/v2/repository/index", post("", auth)))
				.json()
				.then(loose),
		).toEqual([
			{ name: "penguins", version: "1.0.0", state: "READY", reason: "" },
		]);
		// A retrained bundle written whole (manifest, model and digest), as writeBundle ships it.
		const { manifest, modelBytes } = await loadBundle(join(dir, "penguins"));
		await writeBundle(join(dir, "penguins"), {
			manifest: { ...manifest, version: "1.1.0" },
			modelBytes,
		});
		const loaded = await app.request(
			"/v2/repository/models/penguins/load",
			post("", auth),
		);
		expect(await loaded.json().then(loose)).toMatchObject({
			name: "penguins",
			version: "1.1.0",
		});
		expect(
			(
				await (
					await app.request("/predict", post({ records: [golden[0]?.record] }))
				)
					.json()
					.then(loose)
			).model.version,
		).toBe("1.1.0");

		await writeFile(join(dir, "penguins", "model.onnx"), "garbage");
		const bad = await app.request(
			"/v2/repository/models/penguins/load",
			post("", auth),
		);
		expect([bad.status, (await bad.json().then(loose)).error]).toEqual([
			400,
			expect.stringMatching(/sha256/),
		]);
		const still = await (
			await app.request("/predict", post({ records: [golden[0]?.record] }))
		)
			.json()
			.then(loose);
		expect(still.model.version).toBe("1.1.0");
		expect(still.predictions).toEqual([golden[0]?.expected]);

		expect(
			(
				await app.request(
					"/v2/repository/models/penguins/unload",
					post("", auth),
				)
			).status,
		).toBe(200);
		expect(
			(
				await app.request(
					"/v2/repository/models/penguins/unload",
					post("", auth),
				)
			).status,
		).toBe(404);
		expect((await app.request("/v2/health/ready")).status).toBe(503);
		expect(
			(await app.request("/v2/repository/models/whales/load", post("", auth)))
				.status,
		).toBe(404);
	});
});
