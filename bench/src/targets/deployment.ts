import type { Artifact, Deployment } from "@mdp/core";
import { checkReachableOffline } from "../measure/offline.ts";
import {
	type BenchTarget,
	type ColdStart,
	fromDeployment,
	type TargetContext,
} from "../types.ts";
import { firstRequestBody } from "./first-request.ts";
import { medianColdStart } from "./static.ts";

/** Options of {@link createDeploymentTarget}. */
export interface DeploymentTargetOptions {
	id: string;
	title: string;
	coldStartRuns: number;
	/** Builds what the pattern ships (server bundle, image, zip), for the footprint table. */
	build(ctx: TargetContext): Promise<Artifact[]>;
	/** Deploys the pattern with its package's `start()`. */
	start(ctx: TargetContext): Promise<Deployment>;
}

/**
 * A pattern measured through its {@link Deployment}: `start()` deploys it, the harness drives its URL and
 * watches the PIDs of its units. Cold start is the wall time from `start()` to its first prediction, in two
 * phases (deploy to ready, first prediction); a pattern with finer phases reports them in its own figures.
 */
export function createDeploymentTarget(
	options: DeploymentTargetOptions,
): BenchTarget {
	return {
		id: options.id,
		pattern: options.id,
		title: options.title,
		build: options.build,
		async deploy(ctx) {
			return fromDeployment(await options.start(ctx));
		},
		async coldStart(ctx) {
			const runs: ColdStart[] = [];
			for (let i = 0; i < options.coldStartRuns; i++) {
				const started = performance.now();
				const deployment = await options.start(ctx);
				try {
					const ready = performance.now() - started;
					const res = await fetch(new URL("/predict", deployment.url), {
						method: "POST",
						body: await firstRequestBody(ctx.bundle),
						headers: { "content-type": "application/json" },
					});
					await res.text();
					if (!res.ok)
						throw new Error(
							`${options.id}: first prediction got ${res.status}`,
						);
					const total = performance.now() - started;
					runs.push({
						total_ms: total,
						phases: {
							deploy_to_ready: ready,
							first_prediction: total - ready,
						},
					});
				} finally {
					await deployment.stop();
				}
			}
			return medianColdStart(runs);
		},
		async offline(ctx) {
			const deployment = await options.start(ctx);
			try {
				return checkReachableOffline(deployment.url);
			} finally {
				await deployment.stop();
			}
		},
	};
}
