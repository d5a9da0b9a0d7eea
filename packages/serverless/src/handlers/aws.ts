// The AWS Lambda entry (bundled into `index.mjs` of the aws zip; handler string `index.handler`). The
// model is loaded at module scope, during Lambda's init phase, so warm invocations reuse the session.
import { handle } from "hono/aws-lambda";
import { initFunction } from "./init-function.ts";

const { serving } = await initFunction(new URL("./model", import.meta.url));

/**
 * The Lambda handler for API Gateway HTTP API and function URL events (payload format 2.0, and 1.0),
 * serving the whole app (`/predict`, OIP v2, metrics) through Hono's Lambda adapter.
 *
 * @example
 * const result = await handler({ version: "2.0", rawPath: "/v2/health/ready", requestContext: { http: { method: "GET" } }, ... });
 */
export const handler = handle(serving.app);
