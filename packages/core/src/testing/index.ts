/**
 * @module @mdp/core/testing
 * The contract suite every deployment pattern runs against its own deployment (vitest), and the helpers
 * to speak OIP with the golden set.
 *
 * @example
 * import { describeDeploymentContract } from "@mdp/core/testing";
 * describeDeploymentContract("my pattern", async () => ({ url, stop }));
 */

export type { ContractDeployment } from "./deployment-contract.ts";
export {
	describeDeploymentContract,
	fromInferResponse,
} from "./deployment-contract.ts";
