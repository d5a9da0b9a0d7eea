import type { InitPhases } from "../handlers/init-function.ts";
import type { GatewayRequest, GatewayResponse } from "./gateway-types.ts";

/** How one invocation ended. */
export type InvokeOutcome =
	| { kind: "response"; response: GatewayResponse }
	/** The function failed (an error it reported, a crash, a timeout, an init failure): status and body to send. */
	| {
			kind: "failure";
			response: GatewayResponse;
			errorType: string;
			/** Whether the instance is gone (crash, timeout, OOM): the platform replaces it. */
			instanceLost: boolean;
	  };

/** Measured start of an instance, Unix epoch ms and durations in ms. */
export interface ColdStart {
	/** When the platform spawned the process. */
	spawnEpochMs: number;
	/** Spawn → ready (Lambda: the first `/next`, its `Init Duration`; gcp: the port answers). */
	initDurationMs?: number;
	/** What the function reported about its init, when it did. */
	phases?: InitPhases;
}

/** One execution environment: a process that serves one invocation at a time. */
export interface FunctionInstance {
	readonly id: string;
	readonly pid: number | undefined;
	/** The package version it runs (the platform's counter, bumped by each update). */
	readonly version: number;
	readonly coldStart: ColdStart;
	/** Whether the process has ended. */
	readonly exited: boolean;
	/** Resolves when the instance can take an invocation; rejects with an outcome-ready failure. */
	ready(): Promise<void>;
	invoke(
		request: GatewayRequest,
		requestId: string,
		timeoutMs: number,
	): Promise<InvokeOutcome>;
	/** Peak memory so far, bytes. */
	maxMemoryUsedBytes(): number | undefined;
	/** Stops the process (SIGTERM, then SIGKILL after `graceMs`). */
	stop(graceMs?: number): Promise<void>;
}

/**
 * Thrown by `ready()` when init fails or times out, carrying what to answer.
 *
 * @example
 * throw new InitFailure("init timed out", "Sandbox.Timedout", jsonResponse(504, { errorType: "Sandbox.Timedout" }));
 */
export class InitFailure extends Error {
	readonly response: GatewayResponse;
	readonly errorType: string;
	constructor(message: string, errorType: string, response: GatewayResponse) {
		super(message);
		this.errorType = errorType;
		this.response = response;
	}
}
