import type { FeatureDrift } from "../../extract-features.ts";
import type { AppState } from "../app-state.ts";
import { createOpenApiDocument, type RouteDoc } from "../openapi.ts";
import type { RouteDefinition } from "../route.ts";
import * as schemas from "../schemas.ts";

/**
 * Operations: liveness, readiness (a model served and not draining), Prometheus `/metrics` and the
 * OpenAPI document, built on first request from `docs()`, the entries of every registered route.
 *
 * @example
 * const docs: RouteDoc[] = [];
 * docs.push(...registerRoutes(app, operationsRoutes(state, () => docs)));
 */
export function operationsRoutes(
	state: AppState,
	docs: () => readonly RouteDoc[],
): RouteDefinition[] {
	const { host, metrics } = state;
	let openApi: unknown;
	/** What each extractor's drift counters were at the last scrape, so counters advance by the difference. */
	const seen = new WeakMap<FeatureDrift, number[][]>();
	const syncDrift = () => {
		for (const m of host.list()) {
			const drift = m.predictor.extractor.drift;
			const last = seen.get(drift) ?? [[], [], []];
			const kinds = [
				[metrics.featureOutOfRange, drift.outOfRange],
				[metrics.featureImputed, drift.imputed],
				[metrics.featureUnseen, drift.unseen],
			] as const;
			kinds.forEach(([counter, counts], k) => {
				const before = last[k] as number[];
				counts.forEach((n, f) => {
					const delta = n - (before[f] ?? 0);
					if (delta > 0)
						counter.inc(
							{ model: m.name, feature: drift.features[f] as string },
							delta,
						);
					before[f] = n;
				});
			});
			seen.set(drift, last);
		}
	};
	return [
		{
			method: "get",
			path: "/v2/health/live",
			summary: "Liveness",
			tags: ["operations"],
			responses: { 200: { description: "Live", schema: schemas.liveBody } },
			handler: (c) => c.json({ live: true }),
		},
		{
			method: "get",
			path: "/v2/health/ready",
			summary: "Readiness: a model is served and the server is not draining",
			tags: ["operations"],
			responses: {
				200: { description: "Ready", schema: schemas.readyBody },
				503: { description: "Not ready", schema: schemas.readyBody },
			},
			handler: (c) => {
				const ready = host.ready && !state.draining;
				return c.json({ ready }, ready ? 200 : 503);
			},
		},
		{
			method: "get",
			path: "/metrics",
			summary: "Prometheus metrics (mdp_*)",
			tags: ["operations"],
			responses: { 200: { description: "Prometheus text format" } },
			handler: async (c) => {
				syncDrift();
				// Model gauges are derived from what is served at scrape time, so unloaded models disappear.
				metrics.modelInfo.reset();
				metrics.modelLoadSeconds.reset();
				for (const m of host.list()) {
					metrics.modelInfo.set(
						{
							model: m.name,
							version: m.version,
							sha256: m.manifest.model.sha256,
						},
						1,
					);
					metrics.modelLoadSeconds.set(
						{ model: m.name, version: m.version },
						m.loadMs / 1000,
					);
				}
				return c.body(await metrics.registry.metrics(), 200, {
					"Content-Type": metrics.registry.contentType,
				});
			},
		},
		{
			method: "get",
			path: "/openapi.json",
			summary: "This document",
			tags: ["operations"],
			responses: { 200: { description: "OpenAPI 3.1" } },
			handler: (c) => {
				openApi ??= createOpenApiDocument(docs(), {
					title: "model-deployment-patterns serving API",
					version: state.server.version,
				});
				return c.json(openApi);
			},
		},
	];
}
