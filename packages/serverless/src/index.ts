/**
 * @module @mdp/serverless
 * The serverless deployment pattern: the model, its feature extractor and the serving app packaged as a
 * function in a provider's format (AWS Lambda, Google Cloud Run functions, Azure Functions), checked
 * against the provider's size limits, and a local function platform that runs the aws zip the way Lambda
 * does (Runtime API, AWS's own runtime interface client, instances on demand, scale to zero, throttling,
 * memory and time limits, REPORT lines).
 *
 * @example
 * import { start } from "@mdp/serverless";
 * const deployment = await start({ concurrency: 4, idleTimeoutMs: 60_000 });
 * await fetch(`${deployment.url}/predict`, { method: "POST", body: JSON.stringify({ records }) });
 * await deployment.stop();
 */

// ---- Packages ----
export {
	packageFunction,
	sizeBreakdown,
	zipFolder,
	AZURE_HOST_JSON,
} from "./package-function.ts";
export type {
	FunctionPackage,
	PackageFunctionOptions,
	SizeBreakdownRow,
} from "./package-function.ts";
export {
	exceededLimits,
	formatBytes,
	PROVIDERS,
	SIZE_LIMITS,
} from "./limits.ts";
export type { PackageSizes, Provider, SizeLimit } from "./limits.ts";
export { extractZip, readFolder, readZipEntries, zipFiles } from "./zip.ts";
export type { ZipEntry, ZipSource } from "./zip.ts";

// ---- Local platform ----
export {
	fromLambdaResult,
	toApiGatewayV2Event,
} from "./platform/api-gateway.ts";
export type { ApiGatewayV2Event } from "./platform/api-gateway.ts";
export {
	MAX_REQUEST_BYTES,
	startFunctionPlatform,
} from "./platform/function-platform.ts";
export type {
	FunctionPlatform,
	FunctionPlatformOptions,
	InvocationReport,
} from "./platform/function-platform.ts";
export { heapFlags, MemoryCgroup } from "./platform/memory-cgroup.ts";
export { runtimeInterfaceClientEntry } from "./platform/lambda-instance.ts";
export type { LambdaRuntime } from "./platform/lambda-instance.ts";

// ---- Deployment ----
export { start } from "./start.ts";
export type { ServerlessDeployment, StartOptions } from "./start.ts";
