// The Azure Functions (Node.js programming model v4) entry, bundled into `index.mjs` of the azure zip.
// The model is loaded at module scope when the worker loads the app.
import { createRequire } from "node:module";
import type {
	HttpRequest,
	HttpResponseInit,
	InvocationContext,
} from "@azure/functions";
import { initFunction } from "./init-function.ts";

/**
 * The name the HTTP function is registered under.
 *
 * @example
 * app.http(FUNCTION_NAME, { route: "{*path}", handler: predict });
 */
export const FUNCTION_NAME = "predict";

const { serving } = await initFunction(new URL("./model", import.meta.url));

/**
 * The HTTP function: turns the Functions host's request into a Fetch request for the app and returns the
 * app's response (status, headers, body).
 *
 * @example
 * const res = await predict(new HttpRequest({ method: "GET", url: "http://localhost/v2/health/ready" }), new InvocationContext());
 */
export async function predict(
	request: HttpRequest,
	_context: InvocationContext,
): Promise<HttpResponseInit> {
	const hasBody = request.method !== "GET" && request.method !== "HEAD";
	const headers = new Headers();
	for (const [name, value] of request.headers) headers.append(name, value);
	const response = await serving.fetch(
		new Request(request.url, {
			method: request.method,
			headers,
			body: hasBody ? Buffer.from(await request.arrayBuffer()) : undefined,
		}),
	);
	const out: Record<string, string> = {};
	response.headers.forEach((value, name) => {
		out[name] = value;
	});
	return {
		status: response.status,
		headers: out,
		body: new Uint8Array(await response.arrayBuffer()),
	};
}

// @azure/functions is not bundled: it talks to the Functions host through `@azure/functions-core`, a module
// only the host's Node worker provides, and the host installs it from package.json (remote build).
const requireAtRuntime = createRequire(import.meta.url);
const { app } = requireAtRuntime(
	["@azure", "functions"].join("/"),
) as typeof import("@azure/functions");

app.http(FUNCTION_NAME, {
	methods: ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"],
	authLevel: "anonymous",
	// With host.json's routePrefix "" the app's own paths (/predict, /v2/...) are the function's URLs.
	route: "{*path}",
	handler: predict,
});
