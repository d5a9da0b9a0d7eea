/**
 * One running process or container of a deployment, as the harness measures it: what it is for and how to
 * find it (a PID on this machine, a container id on an engine).
 */
export interface DeploymentUnit {
	/** What it does here: `server`, `instance`, `balancer`, `container`, `gateway`, `function`, … */
	role: string;
	/** Stable name within the deployment (`instance-1`, `haproxy`, a container name). */
	id: string;
	/** Host PID, when the unit is a process on this machine (for containers: the engine's PID of its init). */
	pid?: number;
	/** Container id and engine, when the unit is a container. */
	container?: { id: string; engine: string };
}

/** What a model update did: the model served before and after, and how many units it touched. */
export interface ModelUpdate {
	from: { name: string; version: string; sha256: string } | undefined;
	to: { name: string; version: string; sha256: string };
	/** Units switched to the new model. */
	updated: number;
}

/**
 * A running deployment of a model, whatever the pattern: the one shape every pattern's `start(options)`
 * returns, which the contract suite tests and the harness measures. Capabilities a pattern does not have
 * are absent (a static build cannot `scale`).
 *
 * @example
 * const deployment = await start({ bundle: referenceBundleDir, replicas: 2 });
 * await fetch(`${deployment.url}/predict`, { method: "POST", body: JSON.stringify({ records }) });
 * await deployment.scale?.(3);
 * await deployment.stop();
 */
export interface Deployment {
	/** The pattern that runs it (`vm`, `container`, `serverless`, `http`, …). */
	readonly pattern: string;
	/** Base URL of the HTTP app, through whatever balancer, gateway or container is in front. */
	readonly url: string;
	/** Limits the app was started with, when not the defaults (1 MiB body, 1,000 records). */
	readonly limits?: { maxBodyBytes?: number; maxRecords?: number };
	/** The processes and containers that make it up now (they change as it scales or heals). */
	units(): DeploymentUnit[];
	/** Tears everything down: processes, containers, temp dirs. Safe to call twice. */
	stop(): Promise<void>;
	/** Runs `replicas` serving units (0 where the pattern scales to zero). */
	scale?(replicas: number): Promise<void>;
	/** Serves the bundle in `bundleDir` instead, without failing a request. */
	updateModel?(bundleDir: string): Promise<ModelUpdate>;
	/** Returns to the model served before the last update. */
	rollback?(): Promise<ModelUpdate>;
}
