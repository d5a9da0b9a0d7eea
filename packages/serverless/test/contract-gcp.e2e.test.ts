import { referenceBundleDir } from "@mdp/core";
import { describeDeploymentContract } from "@mdp/core/testing";
import { inject } from "vitest";
import { start } from "../src/start.ts";

describeDeploymentContract(
	"serverless: gcp zip under functions-framework",
	() =>
		start({
			provider: "gcp",
			zip: inject("gcpZip"),
			bundle: referenceBundleDir,
			concurrency: 4,
			queueTimeoutMs: 30_000,
			log: null,
		}),
);
