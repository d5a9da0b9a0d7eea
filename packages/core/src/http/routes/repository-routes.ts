import { readdir, realpath } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { CoreError } from "../../errors.ts";
import { readManifestName } from "../../load-bundle.ts";
import type { AppState } from "../app-state.ts";
import { requireAdmin } from "../middleware/auth.ts";
import { bodyText, readBody } from "../middleware/limits.ts";
import { parse, parseJson, truncate } from "../request-body.ts";
import type { RouteDefinition } from "../route.ts";
import * as schemas from "../schemas.ts";
import { ADMIN_ERRORS, PREDICTION_ERRORS } from "./error-docs.ts";

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The model repository extension (Triton/MLServer style): index, load (or hot swap) and unload of the
 * bundles in `<model root>/<name>`, behind the admin token; 403 when the server has no model root.
 *
 * @example
 * registerRoutes(app, repositoryRoutes(state));
 */
export function repositoryRoutes(state: AppState): RouteDefinition[] {
	const { host } = state;
	const guard = requireAdmin(
		state.adminToken,
		state.modelRoot && state.adminToken
			? undefined
			: "the model repository is off: start the server with a model root and an admin token",
	);
	const root = () => state.modelRoot as string;
	return [
		{
			method: "post",
			path: "/v2/repository/index",
			summary: "Models in the repository and their state",
			tags: ["repository"],
			admin: true,
			responses: {
				200: { description: "Index", schema: schemas.repositoryIndex },
				...ADMIN_ERRORS,
			},
			middleware: [guard],
			handler: async (c) => {
				const folders = (await readdir(root(), { withFileTypes: true })).filter(
					(d) => d.isDirectory() && MODEL_NAME.test(d.name),
				);
				return c.json(
					folders.map((d) => {
						const served = host.resolve(d.name);
						return served
							? {
									name: d.name,
									version: served.version,
									state: "READY" as const,
									reason: "",
								}
							: {
									name: d.name,
									state: "UNAVAILABLE" as const,
									reason: host.lastError(d.name) ?? "not loaded",
								};
					}),
				);
			},
		},
		{
			method: "post",
			path: "/v2/repository/models/:name/load",
			summary: "Load (or hot-swap) the bundle in <root>/<name>",
			tags: ["repository"],
			admin: true,
			request: schemas.repositoryLoadRequest,
			responses: {
				200: { description: "Loaded and serving" },
				400: PREDICTION_ERRORS[400],
				404: PREDICTION_ERRORS[404],
				...ADMIN_ERRORS,
			},
			middleware: [guard, readBody(state)],
			handler: async (c) => {
				const name = c.req.param("name") as string;
				const dir = await resolveInRoot(root(), name);
				const text = bodyText(c);
				const body =
					text.trim() === ""
						? {}
						: parse(schemas.repositoryLoadRequest, parseJson(text));
				const folderName = await readManifestName(dir);
				if (folderName !== name) {
					throw new CoreError(
						"INVALID_BUNDLE",
						`${dir}/mdp.json names the model ${JSON.stringify(truncate(folderName, 100))}, but it was loaded as "${name}"`,
					);
				}
				const model = await host.load(dir, {
					keepOtherVersions: body.parameters?.keep_other_versions ?? false,
				});
				return c.json({
					name: model.name,
					version: model.version,
					load_ms: Number(model.loadMs.toFixed(1)),
				});
			},
		},
		{
			method: "post",
			path: "/v2/repository/models/:name/unload",
			summary: "Stop serving a model",
			tags: ["repository"],
			admin: true,
			responses: {
				200: { description: "Unloaded" },
				404: PREDICTION_ERRORS[404],
				...ADMIN_ERRORS,
			},
			middleware: [guard],
			handler: async (c) => {
				const name = c.req.param("name") as string;
				if (!(await host.unload(name)))
					throw new CoreError(
						"NOT_FOUND",
						`model ${JSON.stringify(truncate(name, 100))} is not loaded`,
					);
				return c.json({ name, unloaded: true });
			},
		},
	];
}

/** Resolves a model name to its folder inside the repository root, refusing anything that escapes it. */
async function resolveInRoot(root: string, name: string): Promise<string> {
	const shown = JSON.stringify(truncate(name, 100));
	if (!MODEL_NAME.test(name) || name.includes("..")) {
		throw new CoreError(
			"INVALID_ARGUMENT",
			`${shown} is not a model name (letters, digits, '.', '_', '-'; no path)`,
		);
	}
	const base = resolve(root);
	const dir = join(base, name);
	let real: string;
	try {
		real = await realpath(dir);
	} catch {
		throw new CoreError(
			"NOT_FOUND",
			`no model folder ${shown} in the model repository`,
		);
	}
	const realBase = await realpath(base);
	if (!real.startsWith(realBase + sep)) {
		throw new CoreError(
			"INVALID_ARGUMENT",
			`${shown} resolves outside the model repository`,
		);
	}
	return real;
}
