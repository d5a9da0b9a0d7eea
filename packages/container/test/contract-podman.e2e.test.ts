import { describeDeploymentContract } from "@mdp/core/testing";
import { describe } from "vitest";
import { start } from "../src/start.ts";
import { testEngine } from "./helpers.ts";

const podman = testEngine("podman");

for (const replicas of [1, 2]) {
	describe.skipIf(podman.skip)(`podman, ${replicas} container(s)`, () => {
		describeDeploymentContract(
			`container on podman, ${replicas} replica(s)`,
			() =>
				start({
					engine: "podman",
					image: podman.image,
					replicas,
					repository: podman.run.repository,
					labels: podman.labels,
					logFile: podman.logFile(),
				}),
		);
	});
}
