import { isCoreError } from "./errors.ts";

/**
 * Runs a command-line entry point: the one edge where errors become exit codes (CONTRIBUTING.md, "Errors"). `main`
 * resolves to the exit code. A usage error (`CoreError` "INVALID_ARGUMENT", or `parseArgs` refusing an
 * option) prints its message and a hint and exits 2; any other `CoreError` prints its message and exits 1;
 * anything else prints its stack and exits 1. A closed stdout pipe (`… | head`) ends the process quietly.
 */
export function runCli(name: string, main: () => Promise<number>): void {
	process.stdout.on("error", (error: NodeJS.ErrnoException) => {
		if (error.code !== "EPIPE") throw error;
		process.exit(process.exitCode ?? 0);
	});
	main().then(
		(code) => {
			process.exitCode = code;
		},
		(error: unknown) => {
			const usage =
				(isCoreError(error) && error.code === "INVALID_ARGUMENT") ||
				(error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") ===
					true;
			const message =
				isCoreError(error) || usage
					? (error as Error).message
					: String((error as Error).stack ?? error);
			process.stderr.write(
				`${name}: ${message}\n${usage ? `Run ${name} --help for usage.\n` : ""}`,
			);
			process.exitCode = usage ? 2 : 1;
		},
	);
}

/**
 * Resolves with the first SIGINT or SIGTERM received from the moment it is called. A command that starts
 * processes or containers calls it before starting them: a signal that arrives while they start is then
 * neither fatal (Node's default would exit at once and leave them running) nor lost.
 *
 * @example
 * const stopping = stopSignal();
 * const fleet = await start(options);
 * await stopping;
 * await fleet.stop();
 */
export function stopSignal(): Promise<NodeJS.Signals> {
	return new Promise((resolve) => {
		const onInt = () => done("SIGINT");
		const onTerm = () => done("SIGTERM");
		const done = (signal: NodeJS.Signals) => {
			process.off("SIGINT", onInt);
			process.off("SIGTERM", onTerm);
			resolve(signal);
		};
		process.once("SIGINT", onInt);
		process.once("SIGTERM", onTerm);
	});
}
