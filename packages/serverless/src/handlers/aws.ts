// The AWS Lambda entry (bundled into `index.mjs` of the aws zip; handler string `index.handler`). The
// model is loaded at module scope, during Lambda's init phase, so warm invocations reuse the session;
// one warm-up request through the handler at init spares the first invocation the lazy loading and
// compiling of the request path (about 35–50 ms on this machine).
import { handle, type LambdaEvent } from "hono/aws-lambda";
import { initFunction } from "./init-function.ts";
import { warmUpEvent } from "./warm-up.ts";

const { serving } = await initFunction(new URL("./model", import.meta.url), {
	warmUp: async (app, body) =>
		(
			await handle(app.app)(
				warmUpEvent("/predict", body) as unknown as LambdaEvent,
			)
		).statusCode,
});

/**
 * The Lambda handler for API Gateway HTTP API and function URL events (payload format 2.0, and 1.0),
 * serving the whole app (`/predict`, OIP v2, metrics) through Hono's Lambda adapter.
 *
 * @example
 * const result = await handler({ version: "2.0", rawPath: "/v2/health/ready", requestContext: { http: { method: "GET" } }, ... });
 */
export const handler = handle(serving.app);
