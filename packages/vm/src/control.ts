import { randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { CoreError, isCoreError } from "@mdp/core";
import type { VmDeployment } from "./fleet.ts";

/** What `mdp-vm up` writes so that `mdp-vm update` finds the running fleet. */
export interface FleetState {
	pid: number;
	/** The fleet's endpoint (the balancer). */
	url: string;
	/** The control endpoint (loopback only, bearer token). */
	control: string;
	token: string;
	log?: string;
}

/**
 * Default state file: one per user, in the temp dir.
 *
 * @example
 * await callControl(DEFAULT_STATE_FILE, "/status");
 */
export const DEFAULT_STATE_FILE = join(
	tmpdir(),
	`mdp-vm-${process.getuid?.() ?? "user"}`,
	"fleet.json",
);

/**
 * Serves a fleet's control endpoint on 127.0.0.1: `GET /status`, `POST /update {"bundle"}`,
 * `POST /rollback`, `POST /scale {"replicas"}`, behind a random bearer token written (mode 600) to the
 * state file with the endpoint. Errors answer JSON `{"error"}` with 400 (bad request) or 409 (refused).
 *
 * @example
 * const control = await serveControl(fleet, "/tmp/mdp-vm/fleet.json");
 * // mdp-vm update --bundle models/v2   (reads the state file, POSTs /update)
 * await control.close();
 */
export async function serveControl(
	fleet: VmDeployment,
	stateFile: string,
	extra: { log?: string } = {},
): Promise<{ url: string; close(): Promise<void> }> {
	const token = randomBytes(24).toString("hex");
	const server: Server = createServer(async (req, res) => {
		const answer = (status: number, body: unknown) => {
			res.writeHead(status, { "content-type": "application/json" });
			res.end(JSON.stringify(body));
		};
		const given = Buffer.from(
			(req.headers.authorization ?? "").replace(/^Bearer\s+/i, ""),
		);
		const expected = Buffer.from(token);
		if (given.length !== expected.length || !timingSafeEqual(given, expected))
			return answer(401, { error: "missing or wrong control token" });
		let text = "";
		for await (const chunk of req) {
			text += chunk;
			if (text.length > 64 * 1024)
				return answer(413, { error: "body too large" });
		}
		let body: Record<string, unknown> = {};
		try {
			body = text.trim() ? (JSON.parse(text) as Record<string, unknown>) : {};
		} catch {
			return answer(400, { error: "the body is not valid JSON" });
		}
		try {
			if (req.method === "GET" && req.url === "/status") {
				const { upstreams: _, ...status } = await fleet.status();
				return answer(200, { ...status, units: fleet.units() });
			}
			if (req.method === "POST" && req.url === "/update") {
				if (typeof body.bundle !== "string")
					return answer(400, {
						error: 'field "bundle" (a folder) is required',
					});
				return answer(200, await fleet.updateModel(body.bundle));
			}
			if (req.method === "POST" && req.url === "/rollback")
				return answer(200, await fleet.rollback());
			if (req.method === "POST" && req.url === "/scale") {
				if (!Number.isInteger(body.replicas))
					return answer(400, {
						error: 'field "replicas" (an integer) is required',
					});
				await fleet.scale(body.replicas as number);
				return answer(200, { replicas: body.replicas });
			}
			return answer(404, { error: `no route ${req.method} ${req.url}` });
		} catch (error) {
			return answer(
				isCoreError(error) && error.code === "INVALID_ARGUMENT" ? 400 : 409,
				{
					error: (error as Error).message,
				},
			);
		}
	});
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	const address = server.address();
	const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
	const state: FleetState = {
		pid: process.pid,
		url: fleet.url,
		control: url,
		token,
		...(extra.log ? { log: extra.log } : {}),
	};
	await mkdir(dirname(stateFile), { recursive: true, mode: 0o700 });
	await writeFile(stateFile, `${JSON.stringify(state)}\n`, { mode: 0o600 });
	return {
		url,
		async close() {
			await rm(stateFile, { force: true });
			server.closeAllConnections();
			await new Promise((r) => server.close(r));
		},
	};
}

/**
 * Calls a running fleet's control endpoint, found through its state file.
 *
 * @example
 * const update = await callControl("/tmp/mdp-vm-0/fleet.json", "/update", { bundle: "models/v2" });
 */
export async function callControl(
	stateFile: string,
	path: string,
	body?: unknown,
): Promise<unknown> {
	let state: FleetState;
	try {
		state = JSON.parse(await readFile(stateFile, "utf8")) as FleetState;
	} catch (error) {
		throw new CoreError(
			"NOT_FOUND",
			`no running fleet: cannot read ${stateFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); start one with mdp-vm up`,
		);
	}
	let res: Response;
	try {
		res = await fetch(new URL(path, state.control), {
			method: body === undefined && path === "/status" ? "GET" : "POST",
			headers: {
				authorization: `Bearer ${state.token}`,
				"content-type": "application/json",
			},
			body: body === undefined ? undefined : JSON.stringify(body),
			signal: AbortSignal.timeout(15 * 60_000),
		});
	} catch (error) {
		throw new CoreError(
			"UNAVAILABLE",
			`the fleet in ${stateFile} does not answer at ${state.control} (${(error as Error).message}); is mdp-vm up still running?`,
		);
	}
	const answer = (await res.json()) as { error?: string };
	if (!res.ok)
		throw new CoreError(
			res.status === 400 ? "INVALID_ARGUMENT" : "UNAVAILABLE",
			answer.error ?? `control endpoint answered ${res.status}`,
		);
	return answer;
}
