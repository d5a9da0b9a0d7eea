import { Agent, request as httpRequest } from "node:http";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { type GoldenCase, readGoldenSet } from "../../golden.ts";
import { ModelHost } from "../../model-host.ts";
import { referenceBundleDir } from "../../reference-bundle.ts";
import { type CreateAppOptions, createApp } from "../create-app.ts";
import { createAdminClient } from "../repository-client.ts";
import { type RunningServer, startServer } from "../serve.ts";

let golden: GoldenCase[];
beforeAll(async () => {
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
});
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
	for (const c of cleanups.splice(0).reverse()) await c();
});

/** A served app whose predictions stay in flight for `delayMs` (a batching window). */
async function serve(
	options: Omit<CreateAppOptions, "host"> = {},
	delayMs = 300,
) {
	const host = new ModelHost({
		batching: { maxBatchRows: 1000, maxDelayMs: delayMs },
	});
	await host.load(referenceBundleDir);
	const serving = createApp({ ...options, host });
	const server = await startServer(serving, {});
	cleanups.push(async () => {
		await server.close({ timeoutMs: 2000 });
		serving.close();
		await host.close();
	});
	return { host, serving, server };
}

/** Waits (bounded) until `condition` holds: requests have reached the server. */
async function until(condition: () => boolean, what: string) {
	for (let i = 0; i < 500 && !condition(); i++)
		await new Promise((r) => setTimeout(r, 10));
	if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

const predict = (url: string, g: GoldenCase) =>
	fetch(`${url}/predict`, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ records: [g.record] }),
	}).then(async (r) => ({
		status: r.status,
		body: (await r.json()) as { predictions: unknown[] },
	}));

/** One request on a keep-alive agent: status, Connection header and whether the socket was reused. */
function keepAliveGet(agent: Agent, server: RunningServer, path: string) {
	return new Promise<{ status: number; connection?: string; reused: boolean }>(
		(resolve, reject) => {
			const req = httpRequest(
				{ host: "127.0.0.1", port: server.port, path, agent },
				(res) => {
					res.resume();
					res.once("end", () =>
						resolve({
							status: res.statusCode as number,
							connection: res.headers.connection,
							reused: req.reusedSocket,
						}),
					);
				},
			);
			req.once("error", reject);
			req.end();
		},
	);
}

describe("drain through the admin route", () => {
	it("answers once in-flight predictions finished (all 200), turns readiness off, closes keep-alive connections, and resumes", async () => {
		const { server, serving } = await serve({ adminToken: "s3cret" });
		const admin = createAdminClient({ url: server.url, token: "s3cret" });
		const agent = new Agent({ keepAlive: true, maxSockets: 1 });
		cleanups.push(() => agent.destroy());
		const before = await keepAliveGet(agent, server, "/v2/health/live");
		expect(before).toMatchObject({ status: 200, connection: "keep-alive" });

		const cases = golden.slice(0, 6);
		const inFlight = cases.map((g) => predict(server.url, g));
		// Inside the 300 ms batching window, every prediction is in flight.
		await until(() => serving.inFlight() === cases.length, "6 in flight");
		const drained = await admin.drain();
		expect(drained).toEqual({ draining: true, in_flight: 0 });
		expect(serving.inFlight()).toBe(0);
		const results = await Promise.all(inFlight);
		expect(results.map((r) => r.status)).toEqual(cases.map(() => 200));
		expect(results.map((r) => r.body.predictions[0])).toEqual(
			cases.map((g) => g.expected),
		);

		const ready = await fetch(`${server.url}/v2/health/ready`);
		expect([ready.status, await ready.json()]).toEqual([503, { ready: false }]);
		const during = await keepAliveGet(agent, server, "/v2/health/live");
		expect(during).toMatchObject({
			status: 200,
			connection: "close",
			reused: true,
		});

		await admin.resume();
		const back = await fetch(`${server.url}/v2/health/ready`);
		expect([back.status, await back.json()]).toEqual([200, { ready: true }]);
		const after = await keepAliveGet(agent, server, "/v2/health/live");
		expect(after).toMatchObject({ status: 200, connection: "keep-alive" });
	});

	it("returns after timeout_ms with the count still in flight, which then finishes", async () => {
		const { server, serving } = await serve({ adminToken: "s3cret" }, 1500);
		const admin = createAdminClient({ url: server.url, token: "s3cret" });
		const pending = predict(server.url, golden[0] as GoldenCase);
		await until(() => serving.inFlight() === 1, "1 in flight");
		expect(await admin.drain({ timeoutMs: 20 })).toEqual({
			draining: true,
			in_flight: 1,
		});
		expect(serving.inFlight()).toBe(1);
		expect((await pending).status).toBe(200);
		expect(serving.inFlight()).toBe(0);
	});

	it("refuses a bad drain body with 400 naming the field", async () => {
		const { serving } = await serve({ adminToken: "s3cret" });
		const res = await serving.app.request("/v2/admin/drain", {
			method: "POST",
			headers: { authorization: "Bearer s3cret" },
			body: JSON.stringify({ timeout_ms: "soon" }),
		});
		expect(res.status).toBe(400);
		expect(((await res.json()) as { error: string }).error).toMatch(
			/^timeout_ms: /,
		);
		expect(serving.draining()).toBe(false);
	});
});

describe("admin token", () => {
	it.each([
		["no Authorization header", undefined],
		["a wrong token", "Bearer guess"],
		["the token without the Bearer scheme", "s3cret"],
		["another scheme", "Basic s3cret"],
		["the token with a suffix", "Bearer s3cret2"],
	])(
		"refuses %s with 401 and WWW-Authenticate",
		async (_name, authorization) => {
			const { serving } = await serve({ adminToken: "s3cret" });
			for (const path of ["/v2/admin/drain", "/v2/admin/resume"]) {
				const res = await serving.app.request(path, {
					method: "POST",
					headers: authorization ? { authorization } : {},
				});
				expect(res.status, path).toBe(401);
				expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
				expect(((await res.json()) as { error: string }).error).toMatch(
					/Authorization: Bearer/,
				);
			}
			expect(serving.draining()).toBe(false);
			expect((await serving.app.request("/v2/health/ready")).status).toBe(200);
		},
	);

	it("is off (403) without a token; on with a token alone, while the repository still needs a model root", async () => {
		const off = await serve();
		const refused = await off.serving.app.request("/v2/admin/drain", {
			method: "POST",
			headers: { authorization: "Bearer anything" },
		});
		expect([
			refused.status,
			((await refused.json()) as { error: string }).error,
		]).toEqual([403, expect.stringMatching(/admin routes are off/)]);
		const on = await serve({ adminToken: "s3cret" });
		const auth = { authorization: "Bearer s3cret" };
		const drained = await on.serving.app.request("/v2/admin/drain", {
			method: "POST",
			headers: auth,
		});
		expect([drained.status, await drained.json()]).toEqual([
			200,
			{ draining: true, in_flight: 0 },
		]);
		expect(drained.headers.get("connection")).toBe("close");
		const repository = await on.serving.app.request("/v2/repository/index", {
			method: "POST",
			headers: auth,
		});
		expect(repository.status).toBe(403);
		const resumed = await on.serving.app.request("/v2/admin/resume", {
			method: "POST",
			headers: { authorization: "bearer s3cret" },
		});
		expect([resumed.status, await resumed.json()]).toEqual([
			200,
			{ draining: false },
		]);
	});
});

describe("programmatic drain", () => {
	it("drain() resolves when in-flight predictions are done; resume() makes the app ready again", async () => {
		const { server, serving } = await serve();
		const cases = golden.slice(0, 4);
		const inFlight = cases.map((g) => predict(server.url, g));
		await until(() => serving.inFlight() === cases.length, "4 in flight");
		const left = await serving.drain();
		expect([left, serving.inFlight()]).toEqual([0, 0]);
		expect((await Promise.all(inFlight)).map((r) => r.status)).toEqual(
			cases.map(() => 200),
		);
		expect((await serving.app.request("/v2/health/ready")).status).toBe(503);
		const refusedReady = await serving.app.request("/v2/models/penguins/ready");
		expect(refusedReady.status).toBe(503);
		serving.resume();
		expect((await serving.app.request("/v2/health/ready")).status).toBe(200);
		expect(await serving.drain()).toBe(0); // nothing in flight: at once
	});
});
