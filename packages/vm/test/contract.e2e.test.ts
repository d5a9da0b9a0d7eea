import { referenceBundleDir } from "@mdp/core";
import { findHaproxy } from "@mdp/core/balancer";
import { describeDeploymentContract, runsWith } from "@mdp/core/testing";
import { describe } from "vitest";
import { start } from "../src/index.ts";

// The contract every deployment meets, against fleets of 2 and 3 instances behind each balancer.
// Behind HAProxy the body limit is 12 KiB (the golden set's request is 10 KB): HAProxy 2.6 resets a client
// whose upload an instance answered (413) before its end, unless the whole request fits the one buffer it
// waits for (`option http-buffer-request`). The instances would have to read an over-limit body before
// answering for larger limits to pass through HAProxy 2.6.
const haproxyLimits = { maxBodyBytes: 12 * 1024, maxRecords: 80 };

for (const replicas of [2, 3]) {
	describeDeploymentContract(
		`vm: ${replicas} instances, embedded balancer`,
		() => start({ bundle: referenceBundleDir, replicas, lb: "embedded" }),
	);
	describe.runIf(runsWith("haproxy", findHaproxy() !== undefined))(
		"with HAProxy",
		() => {
			describeDeploymentContract(`vm: ${replicas} instances, HAProxy`, () =>
				start({
					bundle: referenceBundleDir,
					replicas,
					lb: "haproxy",
					limits: haproxyLimits,
				}),
			);
		},
	);
}
