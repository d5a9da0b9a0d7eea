// The Google Cloud Run functions entry (bundled into `index.mjs` of the gcp zip; target `predict`). The
// model is loaded at module scope, before functions-framework starts listening.
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { initFunction } from "./init-function.ts";

/**
 * The name the function is registered under (`--target` / `--entry-point`).
 *
 * @example
 * // functions-framework --target=predict   (FUNCTION_NAME)
 */
export const FUNCTION_NAME = "predict";

const { serving } = await initFunction(new URL("./model", import.meta.url));

/** The Express request functions-framework hands over: Node's request plus the raw body it kept. */
type FrameworkRequest = IncomingMessage & {
	rawBody?: Buffer;
	originalUrl?: string;
};

/**
 * The HTTP function: turns functions-framework's request into a Fetch request for the app and writes the
 * app's response back.
 *
 * @example
 * // functions-framework --target=predict --source=.
 */
export async function predict(
	req: FrameworkRequest,
	res: ServerResponse,
): Promise<void> {
	const headers = new Headers();
	for (const [name, value] of Object.entries(req.headers)) {
		if (value === undefined) continue;
		for (const v of Array.isArray(value) ? value : [value])
			headers.append(name, v);
	}
	const method = req.method ?? "GET";
	const hasBody = method !== "GET" && method !== "HEAD";
	const response = await serving.fetch(
		new Request(
			`http://${req.headers.host ?? "localhost"}${req.originalUrl ?? req.url ?? "/"}`,
			{
				method,
				headers,
				body: hasBody ? (req.rawBody ?? Buffer.alloc(0)) : undefined,
			},
		),
	);
	res.statusCode = response.status;
	const cookies = response.headers.getSetCookie();
	response.headers.forEach((value, name) => {
		if (name !== "set-cookie") res.setHeader(name, value);
	});
	if (cookies.length > 0) res.setHeader("set-cookie", cookies);
	res.end(Buffer.from(await response.arrayBuffer()));
}

// Registered with the functions-framework the provider installs from package.json (not bundled: the
// framework's registry is module state, so the entry and the framework's CLI must share one copy).
const requireAtRuntime = createRequire(import.meta.url);
const framework = requireAtRuntime(
	["@google-cloud", "functions-framework"].join("/"),
) as {
	http(name: string, handler: typeof predict): void;
};
framework.http(FUNCTION_NAME, predict);

type Middleware = (
	req: unknown,
	res: unknown,
	next: (error?: unknown) => void,
) => void;

/**
 * functions-framework parses JSON bodies itself and answers a malformed one with its own HTML 400 before
 * the function runs. It builds its Express app after loading this module, so its body parser can be
 * wrapped here: a JSON parse error is passed on (the raw body is kept) and the app answers with the same
 * JSON error as every other pattern. This works the same on Cloud Run functions.
 */
function passJsonErrorsToTheApp(): void {
	const frameworkRequire = createRequire(
		requireAtRuntime.resolve(
			["@google-cloud", "functions-framework"].join("/"),
		),
	);
	const bodyParser = frameworkRequire(["body", "parser"].join("-")) as {
		json: (options: unknown) => Middleware;
	};
	const json = bodyParser.json;
	bodyParser.json = (options) => {
		const parse = json(options);
		return (req, res, next) =>
			parse(req, res, (error) => {
				if (
					(error as { type?: string } | undefined)?.type ===
					"entity.parse.failed"
				)
					next();
				else next(error);
			});
	};
}
passJsonErrorsToTheApp();
