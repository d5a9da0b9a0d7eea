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
