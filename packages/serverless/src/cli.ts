import { parseArgs } from "node:util";
import { CoreError, runCli, stopSignal } from "@mdp/core";
import { formatBytes, PROVIDERS, type Provider } from "./limits.ts";
import { type FunctionPackage, packageFunction } from "./package-function.ts";
import { start } from "./start.ts";

const USAGE = `mdp-serverless: the model as a serverless function

Usage:
  mdp-serverless package --bundle DIR --provider aws|gcp|azure --out FILE.zip [--no-limits]
      Build the provider's function zip (deterministic), print what takes the space, and check it against
      the provider's size limits (exit 1 with the sizes, the limit and the largest files when over).
  mdp-serverless serve (--zip FILE | --bundle DIR) [--provider aws|gcp] [--memory 512] [--concurrency 10]
                       [--idle-timeout 60s] [--timeout 30s] [--init-timeout 10s] [--queue-timeout 0s]
                       [--per-instance-concurrency 1] [--port 0] [--host 127.0.0.1] [--report FILE.jsonl]
                       [--handler index.handler] [--freeze] [--provisioned N]
      Run a zip on the local function platform: aws, one process per instance under AWS's runtime
      interface client (or the zip's bootstrap), one invocation at a time; gcp, one functions-framework
      process per instance. 429 beyond --concurrency instances, idle instances stopped after
      --idle-timeout, a REPORT line per invocation on stdout (and in --report). --freeze stops idle
      instances with SIGSTOP and thaws them on reuse, as Lambda freezes environments. --provisioned N
      keeps N instances initialised (provisioned concurrency). Ctrl-C stops it.
      (azure zips are packaged and validated only: the Functions host cannot run here.)

Durations take ms, s or m (a bare number is seconds). Exit codes: 0 ok, 1 failure (e.g. over a limit), 2 bad usage.`;

/**
 * `60s`, `500ms`, `2m`, `30` (seconds) → milliseconds.
 *
 * @example
 * parseDuration("60s", "idle-timeout"); // 60000
 */
export function parseDuration(text: string, option: string): number {
	const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(text);
	if (!match)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`--${option} ${JSON.stringify(text)} is not a duration (e.g. 500ms, 30s, 2m)`,
		);
	const value = Number(match[1]);
	const unit = match[2] ?? "s";
	return Math.round(value * (unit === "ms" ? 1 : unit === "s" ? 1000 : 60_000));
}

function parseInteger(
	text: string | undefined,
	option: string,
	fallback: number,
): number {
	if (text === undefined) return fallback;
	const value = Number(text);
	if (!Number.isInteger(value) || value < 0)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`--${option} ${JSON.stringify(text)} is not a non-negative integer`,
		);
	return value;
}

function printPackage(pkg: FunctionPackage): void {
	const lines = [
		`${pkg.provider} package ${pkg.path}`,
		`  sha256 ${pkg.sha256}`,
		`  zipped ${formatBytes(pkg.compressedBytes)} (${pkg.compressedBytes} bytes)${pkg.limit.compressedBytes === undefined ? "" : ` of ${formatBytes(pkg.limit.compressedBytes)} allowed`}`,
		`  unzipped ${formatBytes(pkg.uncompressedBytes)} (${pkg.uncompressedBytes} bytes)${pkg.limit.uncompressedBytes === undefined ? "" : ` of ${formatBytes(pkg.limit.uncompressedBytes)} allowed`}`,
		`  limits: ${pkg.limit.source}, read ${pkg.limit.read}`,
		`  runs as: ${pkg.entry}`,
		"  what takes the space (unzipped):",
		...pkg.breakdown.map(
			(b) =>
				`    ${formatBytes(b.bytes).padStart(9)}  ${((100 * b.bytes) / pkg.uncompressedBytes).toFixed(1).padStart(5)}%  ${b.part}`,
		),
	];
	console.log(lines.join("\n"));
}

async function main(argv: string[]): Promise<number> {
	const [command, ...rest] = argv;
	if (
		command === undefined ||
		command === "help" ||
		command === "--help" ||
		command === "-h"
	) {
		console.log(USAGE);
		return command === undefined ? 2 : 0;
	}
	const { values } = parseArgs({
		args: rest,
		options: {
			bundle: { type: "string" },
			provider: { type: "string" },
			out: { type: "string" },
			"no-limits": { type: "boolean" },
			zip: { type: "string" },
			memory: { type: "string" },
			concurrency: { type: "string" },
			"idle-timeout": { type: "string" },
			timeout: { type: "string" },
			"init-timeout": { type: "string" },
			"queue-timeout": { type: "string" },
			"per-instance-concurrency": { type: "string" },
			port: { type: "string" },
			host: { type: "string" },
			report: { type: "string" },
			handler: { type: "string" },
			freeze: { type: "boolean" },
			provisioned: { type: "string" },
			help: { type: "boolean", short: "h" },
		},
	});
	if (values.help) {
		console.log(USAGE);
		return 0;
	}
	const provider = (values.provider ??
		(command === "serve" ? "aws" : undefined)) as Provider | undefined;
	if (provider === undefined || !PROVIDERS.includes(provider))
		throw new CoreError(
			"INVALID_ARGUMENT",
			`--provider must be one of ${PROVIDERS.join(", ")}${values.provider ? `, got ${JSON.stringify(values.provider)}` : ""}`,
		);
	if (command === "package") {
		if (!values.bundle)
			throw new CoreError("INVALID_ARGUMENT", "package needs --bundle DIR");
		if (!values.out)
			throw new CoreError("INVALID_ARGUMENT", "package needs --out FILE.zip");
		printPackage(
			await packageFunction({
				bundle: values.bundle,
				provider,
				out: values.out,
				checkLimits: !values["no-limits"],
			}),
		);
		return 0;
	}
	if (command === "serve") {
		const stopping = stopSignal();
		if (provider === "azure")
			throw new CoreError(
				"INVALID_ARGUMENT",
				"serve runs aws and gcp zips; azure zips are packaged and validated only (see the README)",
			);
		if (!values.zip && !values.bundle)
			throw new CoreError(
				"INVALID_ARGUMENT",
				"serve needs --zip FILE or --bundle DIR",
			);
		const deployment = await start({
			provider,
			perInstanceConcurrency: parseInteger(
				values["per-instance-concurrency"],
				"per-instance-concurrency",
				1,
			),
			zip: values.zip,
			bundle: values.bundle,
			memoryMb: parseInteger(values.memory, "memory", 512),
			concurrency: parseInteger(values.concurrency, "concurrency", 10),
			idleTimeoutMs: parseDuration(
				values["idle-timeout"] ?? "60s",
				"idle-timeout",
			),
			timeoutMs: parseDuration(values.timeout ?? "30s", "timeout"),
			initTimeoutMs: parseDuration(
				values["init-timeout"] ?? "10s",
				"init-timeout",
			),
			queueTimeoutMs: parseDuration(
				values["queue-timeout"] ?? "0s",
				"queue-timeout",
			),
			port: parseInteger(values.port, "port", 0),
			host: values.host,
			reportFile: values.report,
			handler: values.handler,
			freeze: values.freeze ?? false,
		});
		const provisioned = parseInteger(values.provisioned, "provisioned", 0);
		if (provisioned > 0) await deployment.scale(provisioned);
		console.log(
			JSON.stringify({
				event: "listening",
				url: deployment.url,
				pid: process.pid,
			}),
		);
		await stopping;
		await deployment.stop();
		return 0;
	}
	throw new CoreError(
		"INVALID_ARGUMENT",
		`unknown command ${JSON.stringify(command)}`,
	);
}

runCli("mdp-serverless", () => main(process.argv.slice(2)));
