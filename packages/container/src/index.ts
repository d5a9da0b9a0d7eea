/**
 * @module @mdp/container
 * The container deployment pattern: images built offline through the Docker Engine API (Docker or Podman),
 * containers with limits behind core's balancer, rolling updates and rollback, self-healing, scale to zero,
 * one log stream, and Compose, Swarm and Kubernetes manifests.
 *
 * @example
 * import { start } from "@mdp/container";
 * const deployment = await start({ bundle: "models/penguins", replicas: 2 });
 * console.log(deployment.url);
 * await deployment.stop();
 */

// ---- Engines ----
export {
	connectEngine,
	defaultEngineAddress,
	engineAvailable,
	MANAGED_LABEL,
} from "./engine.ts";
export type { ConnectEngineOptions, Engine, EngineName } from "./engine.ts";

// ---- Images ----
export { ensureBaseImage, IMAGE_UID, imageBytes } from "./base-image.ts";
export type { BaseImage, EnsureBaseImageOptions } from "./base-image.ts";
export {
	buildModelImage,
	DEFAULT_IMAGE_PORT,
	dockerfile,
	imageModel,
} from "./build-image.ts";
export type { BuildModelImageOptions, ModelImage } from "./build-image.ts";
export { packContext } from "./build-context.ts";
export type { ContextEntry } from "./build-context.ts";

// ---- Running ----
export { DEPLOYMENT_LABEL, down, parseMemory, start } from "./start.ts";
export type {
	ColdStart,
	ContainerDeployment,
	ContainerStats,
	StartOptions,
} from "./start.ts";
export { LogCollector } from "./log-collector.ts";
export type { LogEntry } from "./log-collector.ts";

// ---- Manifests ----
export {
	renderCompose,
	renderComposeHost,
	renderKubernetes,
	renderSwarmStack,
	toYaml,
	writeManifests,
} from "./render.ts";
export type { RenderOptions } from "./render.ts";
