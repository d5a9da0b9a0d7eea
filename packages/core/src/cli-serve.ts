import { type AppLimits, createApp, startServer } from "./http/index.ts";
import { ModelHost } from "./model-host.ts";

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
}

/**
 * `mdp-core serve`: one process serving the HTTP app, the unit the vm pattern replicates. Prints one JSON
 * line `{"event":"listening","url":…}` on stdout when ready; SIGTERM/SIGINT shut it down gracefully.
 */
export async function serve(options: ServeCommandOptions): Promise<number> {
	const host = new ModelHost({
		batching: options.batchMaxRows
			? { maxBatchRows: options.batchMaxRows, maxDelayMs: options.batchDelayMs }
			: undefined,
	});
	for (const dir of options.bundles)
		await host.load(dir, { keepOtherVersions: true });
	if (options.modelRoot && !options.adminToken) {
		console.error(
			"mdp-core serve: --model-root given without MDP_ADMIN_TOKEN; the model repository stays off",
		);
	}
	const app = createApp({
		host,
		limits: options.limits,
		repository:
			options.modelRoot && options.adminToken
				? { root: options.modelRoot, adminToken: options.adminToken }
				: undefined,
		onUnexpectedError: (error) =>
			console.error("mdp-core serve: unexpected error:", error),
	});
	const server = await startServer(app, {
		port: options.port,
		hostname: options.hostname,
	});
	const models = host.list().map((m) => ({
		name: m.name,
		version: m.version,
		load_ms: Number(m.loadMs.toFixed(1)),
	}));
	console.log(
		JSON.stringify({
			event: "listening",
			url: server.url,
			pid: process.pid,
			models,
		}),
	);
	console.error(
		`mdp-core serve: listening on ${server.url} (${models.map((m) => `${m.name} ${m.version}`).join(", ")})`,
	);
	await new Promise<void>((resolve) => {
		const stop = (signal: string) => {
			console.error(
				`mdp-core serve: ${signal}: draining ${app.inFlight()} request(s) in flight`,
			);
			resolve();
		};
		process.once("SIGTERM", () => stop("SIGTERM"));
		process.once("SIGINT", () => stop("SIGINT"));
	});
	await server.close();
	await host.close();
	console.error("mdp-core serve: stopped");
	return 0;
}
