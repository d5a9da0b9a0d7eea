import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
	type FunctionPlatform,
	type FunctionPlatformOptions,
	startFunctionPlatform,
} from "../src/platform/function-platform.ts";
import { MemoryCgroup } from "../src/platform/memory-cgroup.ts";
import {
	customRuntimeFiles,
	functionZip,
	PROBE_HANDLER,
} from "./fixtures/functions.ts";

interface Probe {
	pid: number;
	path: string;
	query: Record<string, string> | null;
	body: string | null;
	requestId: string;
	functionName: string;
	memoryLimitInMB: string;
	remainingMs: number;
	env: Record<string, string | null>;
	execArgv: string[];
}

const cleanups: (() => Promise<void>)[] = [];
let probeZip: string;
let work: string;

beforeAll(async () => {
	work = await mkdtemp(join(tmpdir(), "mdp-platform-test-"));
	const fixture = await functionZip({ "index.mjs": PROBE_HANDLER });
	probeZip = fixture.zip;
	cleanups.push(fixture.cleanup);
});
afterAll(async () => {
	for (const c of cleanups.splice(0)) await c();
	await rm(work, { recursive: true, force: true });
});

const platforms: FunctionPlatform[] = [];
afterEach(async () => {
	await Promise.all(platforms.splice(0).map((p) => p.stop()));
});

async function platform(
	options: Partial<FunctionPlatformOptions> = {},
): Promise<FunctionPlatform> {
	const p = await startFunctionPlatform({
		zip: probeZip,
		log: null,
		...options,
	});
	platforms.push(p);
	return p;
}

function alive(pid: number | undefined): boolean {
	if (pid === undefined) return false;
	try {
		process.kill(pid, 0);
		return true;
	} catch {
		return false;
	}
}

async function until(
	condition: () => boolean | Promise<boolean>,
	timeoutMs: number,
): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!(await condition())) {
		if (Date.now() > deadline)
			throw new Error(`condition not met within ${timeoutMs} ms`);
		await new Promise((r) => setTimeout(r, 25));
	}
}

describe("local Lambda platform, running AWS's runtime interface client", () => {
	it("cold-starts once, then reuses the warm instance; REPORT lines carry Init Duration only on the cold one", async () => {
		process.env.MDP_PARENT_ONLY = "must not leak";
		const reportFile = join(work, "reports.jsonl");
		const p = await platform({ reportFile, memoryMb: 512, timeoutMs: 20_000 });
		try {
			const first = await fetch(`${p.url}/hello?a=1&a=2`, {
				method: "POST",
				body: "hi",
				headers: { "content-type": "text/plain" },
			});
			expect(first.status).toBe(200);
			expect(first.headers.get("x-probe")).toBe("1");
			expect(first.headers.get("set-cookie")).toBe("probe=1; Path=/");
			const one = (await first.json()) as Probe;
			const two = (await (await fetch(`${p.url}/hello`)).json()) as Probe;
			expect(two.pid).toBe(one.pid);
			expect([one.path, one.query, one.body]).toEqual([
				"/hello",
				{ a: "1,2" },
				"hi",
			]);
			// What the handler sees is Lambda's execution environment, not the parent's.
			expect(one.env.taskRoot).toBe(one.env.cwd);
			expect(one.env.handler).toBe("index.handler");
			expect(one.env.runtimeApi).toMatch(/^127\.0\.0\.1:\d+$/);
			expect(one.env.logGroup).toBe("/aws/lambda/mdp-function");
			expect(one.env.telemetry).toBe("1");
			expect(one.env.leak).toBeNull();
			expect([one.functionName, one.memoryLimitInMB]).toEqual([
				"mdp-function",
				"512",
			]);
			expect(one.execArgv).toContain("--max-old-space-size=504");
			expect(one.remainingMs).toBeGreaterThan(0);
			expect(one.remainingMs).toBeLessThanOrEqual(20_000);
			const reports = p.reports();
			expect(reports).toHaveLength(2);
			expect(reports[0]?.requestId).toBe(one.requestId);
			expect(reports[0]?.initDurationMs).toBeGreaterThan(0);
			expect(reports[0]?.coldStart?.firstInferenceMs).toBeGreaterThan(0);
			expect(reports[0]?.message).toMatch(
				/^REPORT RequestId: \S+\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 512 MB\tMax Memory Used: \d+ MB\tInit Duration: [\d.]+ ms$/,
			);
			expect(reports[1]?.initDurationMs).toBeUndefined();
			expect(reports[1]?.coldStart).toBeUndefined();
			expect(reports[1]?.message).not.toMatch(/Init Duration/);
			// REPORT lines follow the response, as on Lambda: the file gets them just after.
			const onFile = async () =>
				(await readFile(reportFile, "utf8").catch(() => ""))
					.split("\n")
					.filter((l) => l !== "")
					.map((l) => JSON.parse(l));
			await until(async () => (await onFile()).length >= 2, 5000);
			expect((await onFile()).map((l) => l.requestId)).toEqual([
				one.requestId,
				two.requestId,
			]);
			expect(p.stats()).toMatchObject({
				invocations: 2,
				coldStarts: 1,
				instancesCreated: 1,
			});
		} finally {
			delete process.env.MDP_PARENT_ONLY;
		}
	});

	it("keeps the instance after a handler error and answers 502 with the function's error", async () => {
		const p = await platform();
		const ok = (await (await fetch(`${p.url}/hello`)).json()) as Probe;
		const failed = await fetch(`${p.url}/throw`);
		expect(failed.status).toBe(502);
		expect(await failed.json()).toMatchObject({
			errorType: "TypeError",
			errorMessage: "failed on purpose",
		});
		const after = (await (await fetch(`${p.url}/hello`)).json()) as Probe;
		expect(after.pid).toBe(ok.pid);
	});

	it("refuses a body over the 6 MB invocation payload with 413, without invoking anything", async () => {
		const p = await platform();
		const res = await fetch(`${p.url}/hello`, {
			method: "POST",
			body: "x".repeat(6 * 1024 * 1024 + 1),
		});
		expect(res.status).toBe(413);
		expect(((await res.json()) as { error: string }).error).toMatch(
			/over 6291456 bytes/,
		);
		expect(p.stats().invocations).toBe(0);
	});

	it("runs parallel requests on parallel instances up to the concurrency limit, and throttles the rest with 429", async () => {
		const p = await platform({ concurrency: 3 });
		const responses = await Promise.all(
			Array.from({ length: 5 }, () => fetch(`${p.url}/sleep?ms=1500`)),
		);
		const statuses = responses.map((r) => r.status).sort();
		expect(statuses).toEqual([200, 200, 200, 429, 429]);
		const bodies = await Promise.all(
			responses.map((r) => r.json() as Promise<Probe & { errorType?: string }>),
		);
		const pids = new Set(bodies.filter((b) => b.pid).map((b) => b.pid));
		expect(pids.size).toBe(3);
		expect(
			bodies.filter((b) => b.errorType === "TooManyRequestsException"),
		).toHaveLength(2);
		expect(
			responses.find((r) => r.status === 429)?.headers.get("retry-after"),
		).toBe("1");
		expect(p.stats()).toMatchObject({
			throttles: 2,
			instancesCreated: 3,
			peakInstances: 3,
		});
	});

	it("with a queue timeout, lets a burst wait for a free instance instead of throttling it", async () => {
		const p = await platform({ concurrency: 1, queueTimeoutMs: 20_000 });
		const responses = await Promise.all(
			Array.from({ length: 3 }, () => fetch(`${p.url}/sleep?ms=200`)),
		);
		expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
		expect(p.stats()).toMatchObject({ throttles: 0, instancesCreated: 1 });
	});

	it("scales to zero after the idle timeout, and the next request is a cold start again", async () => {
		const p = await platform({ idleTimeoutMs: 300 });
		const first = (await (await fetch(`${p.url}/hello`)).json()) as Probe;
		await until(() => p.instances().length === 0, 10_000);
		await until(() => !alive(first.pid), 5_000);
		const second = (await (await fetch(`${p.url}/hello`)).json()) as Probe;
		expect(second.pid).not.toBe(first.pid);
		expect(p.reports().map((r) => r.initDurationMs !== undefined)).toEqual([
			true,
			true,
		]);
	});

	it("replaces an instance whose process crashed; the next request succeeds", async () => {
		const p = await platform();
		const before = (await (await fetch(`${p.url}/hello`)).json()) as Probe;
		const crash = await fetch(`${p.url}/crash`);
		expect(crash.status).toBe(502);
		expect(await crash.json()).toMatchObject({
			errorType: "Runtime.ExitError",
			errorMessage: expect.stringMatching(/exit status 3/),
		});
		const after = await fetch(`${p.url}/hello`);
		expect(after.status).toBe(200);
		expect(((await after.json()) as Probe).pid).not.toBe(before.pid);
		expect(p.reports().at(-2)?.errorType).toBe("Runtime.ExitError");
	});

	it("times an invocation out with 504 and a Lambda-style body, and replaces the instance", async () => {
		const p = await platform({ timeoutMs: 1000 });
		const slow = await fetch(`${p.url}/sleep?ms=10000`);
		expect(slow.status).toBe(504);
		expect(await slow.json()).toMatchObject({
			errorType: "Sandbox.Timedout",
			errorMessage: expect.stringMatching(/Task timed out after 1\.00 seconds/),
		});
		const next = await fetch(`${p.url}/hello`);
		expect(next.status).toBe(200);
		expect(p.stats().instancesCreated).toBe(2);
	});

	it("kills an instance whose V8 heap outgrows the memory size and reports it as out of memory", async () => {
		const p = await platform({ memoryMb: 128 });
		const res = await fetch(`${p.url}/hog-heap`);
		expect(res.status).toBe(502);
		expect(await res.json()).toMatchObject({
			errorType: "Runtime.OutOfMemory",
		});
		expect(p.reports()[0]?.errorType).toBe("Runtime.OutOfMemory");
		expect((await fetch(`${p.url}/hello`)).status).toBe(200);
	});

	it.skipIf(!MemoryCgroup.available() && process.env.CI !== "true")(
		"enforces the memory size outside the V8 heap too, through a cgroup v1 memory limit",
		async () => {
			const p = await platform({ memoryMb: 128 });
			const res = await fetch(`${p.url}/hog-native`);
			expect(res.status).toBe(502);
			expect(await res.json()).toMatchObject({
				errorType: "Runtime.OutOfMemory",
			});
			expect(p.reports()[0]?.maxMemoryUsedMb).toBeGreaterThanOrEqual(120);
		},
	);

	it("answers 502 with the init error when the handler module fails to load", async () => {
		const fixture = await functionZip({
			"index.mjs":
				'throw new Error("init boom");\nexport const handler = async () => 1;\n',
		});
		cleanups.push(fixture.cleanup);
		const p = await platform({ zip: fixture.zip });
		const res = await fetch(`${p.url}/hello`);
		expect(res.status).toBe(502);
		expect(
			((await res.json()) as { errorMessage: string }).errorMessage,
		).toMatch(/init boom/);
	});

	it("answers 504 when init takes longer than the init timeout", async () => {
		const fixture = await functionZip({
			"index.mjs":
				"await new Promise((r) => setTimeout(r, 30000));\nexport const handler = async () => 1;\n",
		});
		cleanups.push(fixture.cleanup);
		const p = await platform({ zip: fixture.zip, initTimeoutMs: 1000 });
		const res = await fetch(`${p.url}/hello`);
		expect(res.status).toBe(504);
		expect(await res.json()).toMatchObject({
			errorMessage: "Init timed out after 1.00 seconds",
		});
		await until(() => p.instances().length === 0, 5000);
	});

	it("runs a custom runtime: an executable bootstrap speaking the Runtime API with a bare HTTP client", async () => {
		const fixture = await functionZip(customRuntimeFiles());
		cleanups.push(fixture.cleanup);
		const p = await platform({ zip: fixture.zip, functionName: "custom-fn" });
		const before = Date.now();
		const res = await fetch(`${p.url}/custom`);
		expect(res.status).toBe(200);
		expect(res.headers.get("content-type")).toBe("application/json");
		const body = (await res.json()) as {
			runtime: string;
			requestId: string;
			deadlineMs: number;
			arn: string;
			traceId: string;
			path: string;
		};
		expect(body).toMatchObject({ runtime: "provided", path: "/custom" });
		expect(body.requestId).toBe(p.reports()[0]?.requestId);
		expect(body.deadlineMs).toBeGreaterThan(before);
		expect(body.arn).toMatch(
			/^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:custom-fn$/,
		);
		expect(body.traceId).toMatch(/^Root=1-/);
		const failed = await fetch(`${p.url}/fail`);
		expect(failed.status).toBe(502);
		expect(await failed.json()).toMatchObject({
			errorType: "CustomError",
			errorMessage: "custom failure",
		});
		expect((await fetch(`${p.url}/custom`)).status).toBe(200);
		expect(p.stats().instancesCreated).toBe(1);
	});

	it("switches to a new zip: warm instances of the old one are stopped, new ones run the new code", async () => {
		const v2 = await functionZip({
			"index.mjs":
				"export const handler = async () => ({ statusCode: 200, body: JSON.stringify({ version: 2, pid: process.pid }) });\n",
		});
		cleanups.push(v2.cleanup);
		const p = await platform();
		const old = (await (await fetch(`${p.url}/hello`)).json()) as Probe;
		await p.switchZip(v2.zip);
		await until(() => !alive(old.pid), 5000);
		const next = (await (await fetch(`${p.url}/hello`)).json()) as {
			version: number;
			pid: number;
		};
		expect(next.version).toBe(2);
		expect(p.instances().map((i) => i.version)).toEqual([2]);
	});

	it("frees the place of an idle instance whose process was killed from outside", async () => {
		const p = await platform({ concurrency: 1 });
		const first = (await (await fetch(`${p.url}/hello`)).json()) as Probe;
		process.kill(first.pid, "SIGKILL");
		await until(() => !alive(first.pid), 5000);
		// With a concurrency of 1, the dead instance would otherwise throttle everything until it idles out.
		const next = await fetch(`${p.url}/hello`);
		expect(next.status).toBe(200);
		expect(((await next.json()) as Probe).pid).not.toBe(first.pid);
	});

	it("keeps provisioned instances initialised: their first request is warm and they are not reaped", async () => {
		const reportFile = join(work, "provisioned.jsonl");
		const p = await platform({ idleTimeoutMs: 200, reportFile });
		await p.scale(2);
		expect(p.instances().map((i) => i.state)).toEqual(["idle", "idle"]);
		const pids = p.instances().map((i) => i.pid);
		const responses = await Promise.all([
			fetch(`${p.url}/sleep?ms=300`),
			fetch(`${p.url}/sleep?ms=300`),
		]);
		const served = await Promise.all(
			responses.map((r) => r.json() as Promise<Probe>),
		);
		expect(served.map((b) => b.pid).sort()).toEqual([...pids].sort());
		expect(p.reports().map((r) => r.initDurationMs)).toEqual([
			undefined,
			undefined,
		]);
		// Well past the idle timeout, both are still there.
		await new Promise((r) => setTimeout(r, 800));
		expect(
			p
				.instances()
				.map((i) => i.pid)
				.sort(),
		).toEqual([...pids].sort());
		const lines = (await readFile(reportFile, "utf8"))
			.trim()
			.split("\n")
			.map((l) => JSON.parse(l));
		expect(lines.filter((l) => l.type === "INIT_REPORT")).toHaveLength(2);
		await p.scale(0);
		await until(() => p.instances().length === 0, 5000);
		await expect(p.scale(99)).rejects.toThrow(
			/from 0 to the concurrency limit \(10\)/,
		);
	});

	it("freezes an idle instance (SIGSTOP) and thaws it for the next invocation", async () => {
		const p = await platform({ freeze: true });
		const first = (await (await fetch(`${p.url}/hello`)).json()) as Probe;
		await until(() => p.instances()[0]?.frozen === true, 5000);
		// Field 3 of /proc/PID/stat is the state: T = stopped.
		const state = async () =>
			(await readFile(`/proc/${first.pid}/stat`, "utf8")).replace(
				/^.*\) /s,
				"",
			)[0];
		expect(await state()).toBe("T");
		const second = (await (await fetch(`${p.url}/hello`)).json()) as Probe;
		expect(second.pid).toBe(first.pid);
		expect(p.reports()[1]?.initDurationMs).toBeUndefined();
		await until(() => p.instances()[0]?.frozen === true, 5000);
		await p.stop();
		expect(alive(first.pid)).toBe(false);
	});

	it("stops every instance it started", async () => {
		const p = await platform({ concurrency: 2 });
		await Promise.all([
			fetch(`${p.url}/sleep?ms=300`),
			fetch(`${p.url}/sleep?ms=300`),
		]);
		const pids = p.instances().map((i) => i.pid);
		expect(pids).toHaveLength(2);
		await p.stop();
		expect(pids.filter(alive)).toEqual([]);
	});
});
