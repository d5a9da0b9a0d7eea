/**
 * @module @mdp/core/process
 * Running the processes a deployment is made of: start a server with a controlled environment and wait
 * until its readiness endpoint answers, stop it gracefully, report how it ended.
 *
 * @example
 * import { spawnUntilReady } from "@mdp/core/process";
 * const server = await spawnUntilReady({ command: [process.execPath, "server/mdp-serve.mjs", "--port", "0"] });
 * console.log(server.url, server.startMs);
 * await server.stop();
 */

export { spawnUntilReady } from "./spawn-until-ready.ts";
export type {
	ExitStatus,
	ReadyProcess,
	SpawnUntilReadyOptions,
} from "./spawn-until-ready.ts";
export { startServeDeployment } from "./serve-deployment.ts";
export type { ServeDeploymentOptions } from "./serve-deployment.ts";
export { freePort } from "./free-port.ts";
