import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	CoreError,
	type Deployment,
	type DeploymentUnit,
	type ModelUpdate,
	referenceBundleDir,
} from "@mdp/core";
import { packageFunction } from "./package-function.ts";
import {
	type FunctionPlatform,
	type FunctionPlatformOptions,
	startFunctionPlatform,
} from "./platform/function-platform.ts";

/** Options of {@link start}. */
export interface StartOptions extends Omit<FunctionPlatformOptions, "zip"> {
	/**
	 * The model bundle to package (default: the reference model). With `zip`, only names the model the zip
	 * holds (for `updateModel`'s `from`).
	 */
	bundle?: string;
	/** A ready function package to run instead of packaging `bundle`. */
	zip?: string;
	/** `aws` (default): Lambda zip under the runtime interface client; `gcp`: source zip under functions-framework. */
	provider?: "aws" | "gcp";
}

/** A serverless {@link Deployment} with the platform's own view (REPORT records, counters). */
export interface ServerlessDeployment extends Deployment {
	readonly platform: FunctionPlatform;
	/** Provisioned concurrency: keeps `replicas` instances initialised (0: pure on demand). */
	scale(replicas: number): Promise<void>;
}

interface ModelId {
	name: string;
	version: string;
	sha256: string;
}

async function modelId(bundleDir: string): Promise<ModelId> {
	const manifest = JSON.parse(
		await readFile(join(bundleDir, "mdp.json"), "utf8"),
	) as {
		name: string;
		version: string;
		model: { sha256: string };
	};
	return {
		name: manifest.name,
		version: manifest.version,
		sha256: manifest.model.sha256,
	};
}

/**
 * Runs the serverless pattern locally: packages the bundle as an AWS Lambda zip or a Cloud Run functions
 * source zip (or takes `zip`), starts
 * the local function platform on it, and returns the deployment: its gateway URL, its units (the gateway
 * and one `function` unit per live instance), `updateModel` (package the new bundle and switch: new
 * instances run it, idle ones stop, busy ones finish their invocation first) and `stop`.
 *
 * @example
 * const deployment = await start({ bundle: referenceBundleDir, concurrency: 4 });
 * await fetch(`${deployment.url}/predict`, { method: "POST", body: JSON.stringify({ records }) });
 * await deployment.stop();
 */
export async function start(
	options: StartOptions = {},
): Promise<ServerlessDeployment> {
	const provider = options.provider ?? "aws";
	if (provider !== "aws" && provider !== "gcp")
		throw new CoreError(
			"INVALID_ARGUMENT",
			`provider ${String(provider)} cannot run on the local platform; use aws or gcp`,
		);
	const work = await mkdtemp(join(tmpdir(), "mdp-serverless-start-"));
	let current: ModelId | undefined;
	let platform: FunctionPlatform;
	try {
		let zip = options.zip;
		if (!zip) {
			const bundle = options.bundle ?? referenceBundleDir;
			zip = join(work, "function-1.zip");
			await packageFunction({ bundle, provider, out: zip });
			current = await modelId(bundle);
		} else if (options.bundle) current = await modelId(options.bundle);
		platform = await startFunctionPlatform({ ...options, provider, zip });
	} catch (error) {
		await rm(work, { recursive: true, force: true });
		throw error;
	}
	let updates = 1;
	let stopped: Promise<void> | undefined;
	return {
		pattern: "serverless",
		url: platform.url,
		platform,
		units(): DeploymentUnit[] {
			return [
				{ role: "gateway", id: "gateway", pid: platform.gatewayPid },
				...platform
					.instances()
					.map((i) => ({ role: "function", id: i.id, pid: i.pid })),
			];
		},
		scale(replicas: number): Promise<void> {
			return platform.scale(replicas);
		},
		async updateModel(bundleDir: string): Promise<ModelUpdate> {
			const next = await modelId(bundleDir);
			const zip = join(work, `function-${++updates}.zip`);
			await packageFunction({ bundle: bundleDir, provider, out: zip });
			const running = platform.instances().length;
			await platform.switchZip(zip);
			const from = current;
			current = next;
			return { from, to: next, updated: running };
		},
		stop() {
			stopped ??= platform
				.stop()
				.finally(() => rm(work, { recursive: true, force: true }));
			return stopped;
		},
	};
}
