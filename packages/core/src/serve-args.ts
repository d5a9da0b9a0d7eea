import { parseArgs } from "node:util";
import { CoreError } from "./errors.ts";
import type { AppLimits } from "./http/create-app.ts";

/** Options of the `mdp-core serve` command. */
export interface ServeCommandOptions {
	bundles: string[];
	port: number;
	hostname: string;
	/** Adaptive batching up to this many rows; 0 turns batching off. */
	batchMaxRows: number;
	batchDelayMs: number;
	limits: AppLimits;
	modelRoot?: string;
	adminToken?: string;
	/** Serve the HTTP ceiling instead (constant answers, no model): see `createBareApp`. */
	bare?: boolean;
}

/** Usage of the serve command, shared by `mdp-core serve` and the bundled `mdp-serve`. */
export const SERVE_USAGE = `[--bundle DIR …] [--port N] [--host ADDR] [--batch-max-rows N (32; 0 = off)]
                   [--batch-delay-ms MS] [--max-in-flight N] [--max-body-bytes N] [--max-records N]
                   [--timeout-ms MS] [--model-root DIR] [--bare]
  serves the HTTP app (OIP v2, /predict, /metrics, /openapi.json); MDP_ADMIN_TOKEN enables the admin
  routes (model repository under --model-root, drain); --bare serves the HTTP ceiling (constant answers)`;

/**
 * Parses the serve command's arguments. `defaultBundle` is served when no `--bundle` is given: the
 * reference model for `mdp-core serve`, the model folder beside the bundle for the deployable server.
 */
export function parseServeArgs(
	argv: string[],
	defaultBundle: string,
): ServeCommandOptions {
	const { values } = parseArgs({
		args: argv,
		options: {
			bundle: { type: "string", multiple: true },
			port: { type: "string", default: "8080" },
			host: { type: "string", default: "127.0.0.1" },
			"batch-max-rows": { type: "string", default: "32" },
			"batch-delay-ms": { type: "string", default: "0" },
			"max-in-flight": { type: "string" },
			"max-body-bytes": { type: "string" },
			"max-records": { type: "string" },
			"timeout-ms": { type: "string" },
			"model-root": { type: "string" },
			bare: { type: "boolean" },
		},
	});
	return {
		bundles: values.bundle ?? [defaultBundle],
		port: integer(values.port, "--port"),
		hostname: values.host,
		batchMaxRows: integer(values["batch-max-rows"], "--batch-max-rows"),
		batchDelayMs: integer(values["batch-delay-ms"], "--batch-delay-ms"),
		limits: {
			maxInFlight: optionalInteger(values["max-in-flight"], "--max-in-flight"),
			maxBodyBytes: optionalInteger(
				values["max-body-bytes"],
				"--max-body-bytes",
			),
			maxRecords: optionalInteger(values["max-records"], "--max-records"),
			// 0 ms cannot be a deadline (and would turn Node's own request timeout off).
			requestTimeoutMs: optionalInteger(
				values["timeout-ms"],
				"--timeout-ms",
				1,
			),
		},
		modelRoot: values["model-root"],
		// An empty token leaves the admin routes off.
		adminToken: process.env.MDP_ADMIN_TOKEN || undefined,
		bare: values.bare,
	};
}

/** A non-negative (`min` 0) or positive (`min` 1) integer option, or a usage error naming the flag. */
export function integer(text: string, flag: string, min: 0 | 1 = 0): number {
	const value = Number(text);
	if (!Number.isSafeInteger(value) || value < min) {
		throw new CoreError(
			"INVALID_ARGUMENT",
			`${flag} must be a ${min === 0 ? "non-negative" : "positive"} integer, got "${text}"`,
		);
	}
	return value;
}

function optionalInteger(
	text: string | undefined,
	flag: string,
	min: 0 | 1 = 0,
): number | undefined {
	return text === undefined ? undefined : integer(text, flag, min);
}

/** The server arguments that set `limits` (`--max-body-bytes`, `--max-records`): the inverse of parsing them. */
export function toLimitArgs(limits?: {
	maxBodyBytes?: number;
	maxRecords?: number;
}): string[] {
	return [
		...(limits?.maxBodyBytes === undefined
			? []
			: ["--max-body-bytes", String(limits.maxBodyBytes)]),
		...(limits?.maxRecords === undefined
			? []
			: ["--max-records", String(limits.maxRecords)]),
	];
}
