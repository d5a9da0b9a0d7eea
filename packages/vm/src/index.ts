/**
 * @module @mdp/vm
 * The VM deployment pattern: the model server replicated on instances (process-isolated instances on
 * their own loopback addresses here, no hypervisor) behind one load balancer, with health checks,
 * self-healing, autoscaling and rolling model updates.
 *
 * @example
 * import { referenceBundleDir } from "@mdp/core";
 * import { start } from "@mdp/vm";
 * const fleet = await start({ bundle: referenceBundleDir, replicas: 3, lb: "embedded" });
 * await fleet.scale(4);
 * await fleet.stop();
 */

// ---- Fleet ----
export { start } from "./fleet.ts";
export type {
	FleetEvent,
	FleetStatus,
	LogEntry,
	VmDeployment,
	VmOptions,
} from "./fleet.ts";

// ---- Autoscaling ----
export { createAutoscaler } from "./autoscaler.ts";
export type { AutoscaleOptions, AutoscaleSample } from "./autoscaler.ts";

// ---- Control endpoint of a running fleet (mdp-vm up / update) ----
export { callControl, DEFAULT_STATE_FILE, serveControl } from "./control.ts";
export type { FleetState } from "./control.ts";

// ---- Cloud artifacts (mdp-vm render) ----
export {
	renderCloud,
	renderCloudInit,
	renderSystemdUnit,
} from "./render.ts";
export type { RenderOptions } from "./render.ts";

// ---- Instance size (cgroups) ----
export {
	createInstanceCgroup,
	detectCgroups,
	parseInstanceSize,
} from "./instance-size.ts";
export type {
	CgroupSupport,
	InstanceCgroup,
	InstanceSize,
} from "./instance-size.ts";
