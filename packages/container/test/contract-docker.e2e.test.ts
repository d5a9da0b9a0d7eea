import { describeDeploymentContract } from "@mdp/core/testing";
import { describe } from "vitest";
import { start } from "../src/start.ts";
import { testEngine } from "./helpers.ts";

const docker = testEngine("docker");

for (const replicas of [1, 2]) {
	describe.skipIf(docker.skip)(`docker, ${replicas} container(s)`, () => {
		describeDeploymentContract(
			`container on docker, ${replicas} replica(s)`,
			() =>
				start({
					engine: "docker",
					image: docker.image,
					replicas,
					repository: docker.run.repository,
					labels: docker.labels,
					logFile: docker.logFile(),
				}),
		);
	});
}
