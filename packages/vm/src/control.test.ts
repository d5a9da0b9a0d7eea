import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreError } from "@mdp/core";
import { afterEach, describe, expect, it } from "vitest";
import { callControl, type FleetState, serveControl } from "./control.ts";
import type { VmDeployment } from "./fleet.ts";

// The control endpoint in front of a stand-in fleet: only the HTTP edge (auth, input, errors) is tested
// here; the real fleet behind it is exercised by test/cli.e2e.test.ts.
const model = { name: "penguins", version: "1.0.0", sha256: "a".repeat(64) };
const calls: string[] = [];
const fleet = {
	url: "http://127.0.0.1:1",
	units: () => [{ role: "instance", id: "vm-1", pid: 1 }],
	status: async () => ({
		instances: 1,
		ready: 1,
		inFlight: 0,
		requestsPerSecond: 0,
		replacements: 0,
		model,
		upstreams: [],
	}),
	updateModel: async (dir: string) => {
		calls.push(`update ${dir}`);
		if (dir.includes("bad"))
			throw new CoreError(
				"INVALID_BUNDLE",
				"rollout stopped at vm-1: bad model",
			);
		return { from: model, to: { ...model, version: "2" }, updated: 1 };
	},
	rollback: async () => ({ from: model, to: model, updated: 1 }),
	scale: async (n: number) => {
		if (n > 9) throw new CoreError("INVALID_ARGUMENT", "too many");
	},
} as unknown as VmDeployment;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
	for (const c of cleanups.splice(0)) await c();
});

async function control() {
	const dir = await mkdtemp(join(tmpdir(), "mdp-vm-control-"));
	const stateFile = join(dir, "state", "fleet.json");
	const served = await serveControl(fleet, stateFile);
	cleanups.push(async () => {
		await served.close();
		await rm(dir, { recursive: true, force: true });
	});
	return { stateFile, served };
}

describe("fleet control endpoint", () => {
	it("writes a private state file and answers the CLI's calls", async () => {
		const { stateFile } = await control();
		expect((await stat(stateFile)).mode & 0o777).toBe(0o600);
		const state = JSON.parse(await readFile(stateFile, "utf8")) as FleetState;
		expect(state.token).toMatch(/^[0-9a-f]{48}$/);
		expect(await callControl(stateFile, "/update", { bundle: "/v2" })).toEqual({
			from: model,
			to: { ...model, version: "2" },
			updated: 1,
		});
		expect(calls.at(-1)).toBe("update /v2");
		expect(await callControl(stateFile, "/status")).toMatchObject({
			instances: 1,
			units: [{ role: "instance", id: "vm-1", pid: 1 }],
		});
	});

	it("refuses a wrong token, bad input and unknown routes with a JSON error", async () => {
		const { stateFile } = await control();
		const { control: url, token } = JSON.parse(
			await readFile(stateFile, "utf8"),
		) as FleetState;
		const post = (path: string, body: string, auth = token) =>
			fetch(`${url}${path}`, {
				method: "POST",
				headers: { authorization: `Bearer ${auth}` },
				body,
			});
		const cases: [Response, number, RegExp][] = [
			[await post("/update", "{}", "x".repeat(48)), 401, /token/],
			[await post("/update", "{not json"), 400, /not valid JSON/],
			[await post("/update", '{"bundle": 3}'), 400, /"bundle"/],
			[await post("/scale", '{"replicas": "two"}'), 400, /"replicas"/],
			[await post("/scale", '{"replicas": 10}'), 400, /too many/],
			[await post("/update", '{"bundle": "/bad"}'), 409, /rollout stopped/],
			[await post("/launch", "{}"), 404, /no route POST \/launch/],
		];
		for (const [res, status, message] of cases) {
			expect(res.status).toBe(status);
			expect(((await res.json()) as { error: string }).error).toMatch(message);
		}
		// What the CLI turns into exit 1 with the reason.
		await expect(
			callControl(stateFile, "/update", { bundle: "/bad" }),
		).rejects.toThrow(/rollout stopped at vm-1/);
	});

	it("removes the state file when it closes, and callers are told there is no fleet", async () => {
		const { stateFile, served } = await control();
		await served.close();
		await expect(callControl(stateFile, "/status")).rejects.toThrow(
			/no running fleet/,
		);
	});
});
