import { referenceBundleDir } from "@mdp/core";
import { describeDeploymentContract } from "@mdp/core/testing";
import { inject } from "vitest";
import { start } from "../src/start.ts";

// The aws zip of the reference model on the local Lambda platform. Four instances serve the contract's
// bursts (100 parallel requests): with a bounded queue wait they absorb the burst instead of throttling it.
describeDeploymentContract(
	"serverless: aws zip on the local Lambda platform",
	() =>
		start({
			zip: inject("awsZip"),
			bundle: referenceBundleDir,
			concurrency: 4,
			queueTimeoutMs: 30_000,
			log: null,
		}),
);
