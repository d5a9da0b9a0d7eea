import { createApp, createBareApp, startServer } from "./http/index.ts";
import { ModelHost } from "./model-host.ts";
import type { ServeCommandOptions } from "./serve-args.ts";

/**
 * `mdp-core serve`: one process serving the HTTP app, the unit the vm pattern replicates. Prints one JSON
 * line `{"event":"listening","url":…}` on stdout when ready; SIGTERM/SIGINT shut it down gracefully.
 */
export async function serve(options: ServeCommandOptions): Promise<number> {
	if (options.bare) {
		const server = await startServer(createBareApp(), {
			port: options.port,
			hostname: options.hostname,
		});
		console.log(
			JSON.stringify({
				event: "listening",
				url: server.url,
				pid: process.pid,
				models: [],
			}),
		);
		console.error(
			`mdp-core serve --bare: listening on ${server.url} (constant answers, no model)`,
		);
		await waitForSignal(() => "");
		await server.close();
		return 0;
	}
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
		processMetrics: true,
		limits: options.limits,
		// The admin routes (drain, resume) are on with a token; the repository routes also need the root.
		adminToken: options.adminToken,
		repository:
			options.modelRoot && options.adminToken
				? { root: options.modelRoot, adminToken: options.adminToken }
				: undefined,
		onUnexpectedError: (error) =>
			console.error("mdp-core serve: unexpected error:", error),
		onClientAbort: ({ method, path }) =>
			console.error(
				`mdp-core serve: client aborted ${method} ${path.slice(0, 200)} mid-body`,
			),
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
	await waitForSignal(
		() => `, draining ${app.inFlight()} request(s) in flight`,
	);

	await server.close();
	app.close();
	await host.close();
	console.error("mdp-core serve: stopped");
	return 0;
}

/** Resolves on SIGTERM or SIGINT (graceful shutdown follows). */
function waitForSignal(detail: () => string): Promise<void> {
	return new Promise<void>((resolve) => {
		const stop = (signal: string) => {
			console.error(`mdp-core serve: ${signal}${detail()}`);
			resolve();
		};
		process.once("SIGTERM", () => stop("SIGTERM"));
		process.once("SIGINT", () => stop("SIGINT"));
	});
}
