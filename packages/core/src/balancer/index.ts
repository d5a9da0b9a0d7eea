/**
 * @module @mdp/core/balancer
 * The load balancer that the vm and container patterns put in front of replicas: an embedded balancer
 * (HTTP-aware by default: an upstream per request over pooled keep-alive connections; or an L4 splice),
 * and a driver that runs a real HAProxy with an equivalent configuration, both behind one {@link Balancer}
 * interface with the same in-flight signal per upstream.
 *
 * @example
 * import { startEmbeddedBalancer } from "@mdp/core/balancer";
 * const lb = await startEmbeddedBalancer({ upstreams: [{ id: "a", host: "127.0.1.1", port: 8080 }] });
 * await lb.drain("a"); // before stopping instance a
 */

export type { EmbeddedBalancerOptions } from "./embedded-balancer.ts";
export { startEmbeddedBalancer } from "./embedded-balancer.ts";
export type {
	HaproxyBalancerOptions,
	HaproxyConfigOptions,
} from "./haproxy.ts";
export {
	findHaproxy,
	startHaproxyBalancer,
	toHaproxyConfig,
} from "./haproxy.ts";
export { checkHealth } from "./health-check.ts";
export type {
	Balancer,
	HealthCheckOptions,
	Upstream,
	UpstreamState,
} from "./types.ts";
