import * as z from "zod/mini";

type ZodType = z.ZodMiniType;

/** One documented route of the app. */
export interface RouteDoc {
	method: "get" | "post";
	/** OpenAPI path form: `/v2/models/{name}`. */
	path: string;
	summary: string;
	tags: string[];
	request?: ZodType;
	responses: Record<
		number,
		{ description: string; schema?: ZodType; contentType?: string }
	>;
	admin?: boolean;
}

/** Builds an OpenAPI 3.1 document from the route table and the same zod schemas that validate requests. */
export function createOpenApiDocument(
	routes: readonly RouteDoc[],
	info: { title: string; version: string },
) {
	const paths: Record<string, Record<string, unknown>> = {};
	for (const route of routes) {
		const parameters = [...route.path.matchAll(/\{(\w+)\}/g)].map(
			([, name]) => ({
				name,
				in: "path",
				required: true,
				schema: { type: "string" },
			}),
		);
		const responses = Object.fromEntries(
			Object.entries(route.responses).map(([status, r]) => [
				status,
				{
					description: r.description,
					...(r.schema
						? {
								content: {
									[r.contentType ?? "application/json"]: {
										schema: toSchema(r.schema, "output"),
									},
								},
							}
						: {}),
				},
			]),
		);
		paths[route.path] ??= {};
		(paths[route.path] as Record<string, unknown>)[route.method] = {
			summary: route.summary,
			tags: route.tags,
			...(parameters.length ? { parameters } : {}),
			...(route.request
				? {
						requestBody: {
							required: true,
							content: {
								"application/json": {
									schema: toSchema(route.request, "input"),
								},
							},
						},
					}
				: {}),
			...(route.admin ? { security: [{ adminToken: [] }] } : {}),
			responses,
		};
	}
	return {
		openapi: "3.1.0",
		info,
		paths,
		components: {
			schemas: z.toJSONSchema(z.globalRegistry, {
				uri: toRef,
				unrepresentable: "any",
			}).schemas,
			securitySchemes: { adminToken: { type: "http", scheme: "bearer" } },
		},
	};
}

const toRef = (id: string) => `#/components/schemas/${id}`;

/** A schema with an id (`.meta({ id })`) becomes a reference to `components.schemas`; others are inlined. */
function toSchema(schema: ZodType, io: "input" | "output") {
	const id = z.globalRegistry.get(schema)?.id;
	if (id) return { $ref: toRef(id) };
	const { $schema: _dialect, ...inline } = z.toJSONSchema(schema, {
		io,
		unrepresentable: "any",
	});
	return inline;
}
