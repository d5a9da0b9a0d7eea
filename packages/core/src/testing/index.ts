/**
 * @module @mdp/core/testing
 * The contract suite every deployment pattern runs against its own deployment (vitest), and the helpers
 * to speak OIP with the golden set.
 *
 * @example
 * import { describeDeploymentContract } from "@mdp/core/testing";
 * describeDeploymentContract("my pattern", () => start({ bundle: referenceBundleDir }));
 */

export type { DeploymentContractOptions } from "./deployment-contract.ts";
export {
	describeDeploymentContract,
	fromInferResponse,
} from "./deployment-contract.ts";
export { runsWith, testArtifactsDir } from "./tools.ts";
export { describeHardeningContract } from "./hardening-contract.ts";
export type { HardeningTarget } from "./hardening-contract.ts";
