import { randomBytes } from "node:crypto";
import { cp, mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Deployment, ModelUpdate } from "../deployment.ts";
import { createAdminClient } from "../http/repository-client.ts";
import { startServeProcess } from "../http/serve-process.ts";
import { readServedModel } from "../load-bundle.ts";
import { toLimitArgs } from "../serve-args.ts";

/** Options of {@link startServeDeployment}. */
export interface ServeDeploymentOptions {
	/** The model bundle to serve. */
	bundle: string;
	/** A built server (`<out>/mdp-serve.mjs` of `buildServer`); default `mdp-core serve` from the sources. */
	entry?: string;
	/** More server arguments (`--batch-max-rows 0`, `--max-records 10`, …). */
	args?: string[];
	/** Prefix the command, for example `["taskset", "-c", "0"]`. */
	wrapper?: string[];
	/** Limits passed as `--max-body-bytes` / `--max-records`, and reported by the deployment. */
	limits?: { maxBodyBytes?: number; maxRecords?: number };
}

/**
 * One server process as a {@link Deployment}: the smallest dynamic deployment, the unit the vm, container
 * and serverless patterns replicate, and what the harness measures as `http`. The bundle is copied into a
 * private model root, so `updateModel` hot-swaps through the server's own repository API (the old model
 * keeps serving if the new one fails to load) and `rollback` swaps back.
 *
 * @example
 * const deployment = await startServeDeployment({ bundle: referenceBundleDir });
 * await deployment.updateModel?.("models/penguins-v2");
 * await deployment.stop();
 */
export async function startServeDeployment(
	options: ServeDeploymentOptions,
): Promise<Deployment> {
	const root = await mkdtemp(join(tmpdir(), "mdp-serve-root-"));
	const token = randomBytes(24).toString("hex");
	let current = await readServedModel(options.bundle);
	const history: string[] = [];
	let generation = 0;
	const place = async (dir: string, name: string) => {
		// Copy beside the root's folder, then rename over it: the server never reads a half-copied bundle.
		const staging = join(root, `.incoming-${++generation}`);
		await cp(resolve(dir), staging, { recursive: true });
		const previous = join(root, `.previous-${generation}`);
		await rename(join(root, name), previous).catch(() => undefined);
		await rename(staging, join(root, name));
		return previous;
	};
	await cp(resolve(options.bundle), join(root, current.name), {
		recursive: true,
	});
	const limitArgs = toLimitArgs(options.limits);
	let server: Awaited<ReturnType<typeof startServeProcess>>;
	try {
		server = await startServeProcess({
			entry: options.entry,
			wrapper: options.wrapper,
			args: [
				"--bundle",
				join(root, current.name),
				"--model-root",
				root,
				...limitArgs,
				...(options.args ?? []),
			],
			env: { MDP_ADMIN_TOKEN: token },
		});
	} catch (error) {
		await rm(root, { recursive: true, force: true });
		throw error;
	}
	const admin = createAdminClient({ url: server.url, token });
	const swapTo = async (dir: string): Promise<ModelUpdate> => {
		const next = await readServedModel(dir);
		const previous = await place(dir, next.name);
		try {
			await admin.load(next.name);
		} catch (error) {
			// Refused: put the bundle that is still being served back in its folder.
			await rm(join(root, next.name), { recursive: true, force: true });
			await rename(previous, join(root, next.name)).catch(() => undefined);
			throw error;
		}
		const from = current;
		current = next;
		return { from, to: next, updated: 1 };
	};
	let stopped: Promise<void> | undefined;
	return {
		pattern: "http",
		url: server.url,
		limits: options.limits,
		units: () => [{ role: "server", id: "server", pid: server.pid }],
		async updateModel(dir) {
			const update = await swapTo(dir);
			history.push(resolve(dir));
			return update;
		},
		async rollback() {
			const before = history.at(-2) ?? resolve(options.bundle);
			const update = await swapTo(before);
			history.pop();
			return update;
		},
		stop() {
			stopped ??= (async () => {
				await server.stop();
				await rm(root, { recursive: true, force: true });
			})();
			return stopped;
		},
	};
}
