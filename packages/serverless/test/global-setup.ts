// Packages the reference model once per test run for the suites that only need to run it (aws and gcp
// zips), so each suite does not spend seconds of CPU on the same esbuild + zip.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { referenceBundleDir } from "@mdp/core";
import type { TestProject } from "vitest/node";
import { packageFunction } from "../src/package-function.ts";

declare module "vitest" {
	export interface ProvidedContext {
		awsZip: string;
		gcpZip: string;
	}
}

export async function setup(
	project: TestProject,
): Promise<() => Promise<void>> {
	const dir = await mkdtemp(join(tmpdir(), "mdp-serverless-zips-"));
	try {
		for (const provider of ["aws", "gcp"] as const) {
			const pkg = await packageFunction({
				bundle: referenceBundleDir,
				provider,
				out: join(dir, `${provider}.zip`),
			});
			project.provide(provider === "aws" ? "awsZip" : "gcpZip", pkg.path);
		}
	} catch (error) {
		await rm(dir, { recursive: true, force: true });
		throw error;
	}
	return () => rm(dir, { recursive: true, force: true });
}
