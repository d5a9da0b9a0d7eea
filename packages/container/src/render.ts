import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { CoreError } from "@mdp/core";
import { Deployment as K8sDeployment } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { Service } from "kubernetes-models/v1";
import { stringify } from "yaml";
import { IMAGE_UID } from "./base-image.ts";
import { DEFAULT_IMAGE_PORT } from "./image-defaults.ts";
import { parseMemory } from "./start.ts";

/** Options of the manifest renderers. */
export interface RenderOptions {
	/** Image built by `mdp-container build` (pushed to a registry the cluster can pull from, for k8s/Swarm). */
	image: string;
	/** Default 2. */
	replicas?: number;
	/** CPU limit per replica (cores). Default 1. */
	cpus?: number;
	/** Memory limit per replica (`512m`). Default 512m. */
	memory?: string;
	/** Port of the balancer (Compose, Swarm) on 127.0.0.1. Default 8080. */
	port?: number;
	/** First port of the replicas in the host-network variants (Compose, Swarm). Default 9100. */
	replicaPortBase?: number;
	/** Name of the app (services, Kubernetes objects). Default `mdp-model`. */
	name?: string;
}

function defaults(options: RenderOptions) {
	const replicas = options.replicas ?? 2;
	if (!Number.isInteger(replicas) || replicas < 1)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`replicas must be a whole number ≥ 1, got ${replicas}`,
		);
	const memory = options.memory ?? "512m";
	const memoryBytes = parseMemory(memory) as number;
	return {
		image: options.image,
		replicas,
		cpus: options.cpus ?? 1,
		memoryMiB: Math.round(memoryBytes / 1024 ** 2),
		port: options.port ?? 8080,
		base: options.replicaPortBase ?? 9100,
		name: options.name ?? "mdp-model",
	};
}

const HEALTHCHECK = {
	test: ["CMD", "node", "/app/healthcheck.mjs"],
	interval: "5s",
	timeout: "3s",
	retries: 3,
	start_period: "10s",
};

const HARDENING = {
	read_only: true,
	user: `${IMAGE_UID}:${IMAGE_UID}`,
	cap_drop: ["ALL"],
	security_opt: ["no-new-privileges:true"],
	tmpfs: ["/tmp"],
};

/**
 * `docker-compose.yml` as a user runs it: N replicas of the model on Compose's network (deploy.replicas,
 * limits, health check, restart policy, read-only and non-root) and a balancer service (the image's
 * `balance.mjs`) that finds the replicas by DNS and publishes one port on 127.0.0.1.
 *
 * @example
 * writeFileSync("docker-compose.yml", stringify(renderCompose({ image: "mdp-penguins:1.0.0-96b478faa7b6" })));
 */
export function renderCompose(options: RenderOptions): Record<string, unknown> {
	const o = defaults(options);
	return {
		version: "3.8",
		services: {
			model: {
				image: o.image,
				command: ["--host", "0.0.0.0", "--port", String(DEFAULT_IMAGE_PORT)],
				environment: { ORT_DISABLE_TELEMETRY: "1" },
				...HARDENING,
				healthcheck: HEALTHCHECK,
				restart: "on-failure",
				labels: { "org.mdp.managed": "compose" },
				deploy: {
					replicas: o.replicas,
					resources: {
						limits: { cpus: String(o.cpus), memory: `${o.memoryMiB}M` },
					},
				},
			},
			balancer: {
				image: o.image,
				entrypoint: ["node", "/app/balance.mjs"],
				environment: {
					MDP_UPSTREAMS: `model:${DEFAULT_IMAGE_PORT}`,
					MDP_LISTEN: `0.0.0.0:${DEFAULT_IMAGE_PORT}`,
				},
				ports: [`127.0.0.1:${o.port}:${DEFAULT_IMAGE_PORT}`],
				...HARDENING,
				restart: "on-failure",
				labels: { "org.mdp.managed": "compose" },
				depends_on: ["model"],
			},
		},
	};
}

/**
 * The host-network variant of the Compose file (machines without bridge networks, like the test machines
 * here): one service per replica on its own loopback port, and the balancer on `port`.
 *
 * @example
 * const file = renderComposeHost({ image, replicas: 2, port: 8080 }); // model-1 on 9100, model-2 on 9101
 */
export function renderComposeHost(
	options: RenderOptions,
): Record<string, unknown> {
	const o = defaults(options);
	const services: Record<string, unknown> = {};
	const upstreams: string[] = [];
	for (let i = 1; i <= o.replicas; i++) {
		const port = o.base + i - 1;
		upstreams.push(`127.0.0.1:${port}`);
		services[`model-${i}`] = {
			image: o.image,
			network_mode: "host",
			command: ["--host", "127.0.0.1", "--port", String(port)],
			environment: { ORT_DISABLE_TELEMETRY: "1", MDP_PORT: String(port) },
			...HARDENING,
			healthcheck: HEALTHCHECK,
			restart: "on-failure",
			labels: { "org.mdp.managed": "compose" },
			cpus: o.cpus,
			mem_limit: `${o.memoryMiB}m`,
		};
	}
	services.balancer = {
		image: o.image,
		network_mode: "host",
		entrypoint: ["node", "/app/balance.mjs"],
		environment: {
			MDP_UPSTREAMS: upstreams.join(","),
			MDP_LISTEN: `127.0.0.1:${o.port}`,
		},
		...HARDENING,
		restart: "on-failure",
		labels: { "org.mdp.managed": "compose" },
		depends_on: Object.keys(services),
	};
	return { version: "2.4", services };
}

/**
 * A Docker Swarm stack (`docker stack deploy -c stack.yml NAME`) on the `host` network: N replicas, each
 * on port base + 2 × (task slot − 1) or the one after it during a start-first update (`serve-slot.mjs`
 * reads the slot from the `{{.Task.Slot}}` template), rolling updates with `order: start-first` and
 * automatic rollback, health-based restarts, limits, read-only root; the balancer service checks all 2N
 * ports and routes to the ready ones.
 *
 * @example
 * writeFileSync("stack.yml", stringify(renderSwarmStack({ image, replicas: 2 })));
 */
export function renderSwarmStack(
	options: RenderOptions,
): Record<string, unknown> {
	const o = defaults(options);
	const upstreams: string[] = [];
	for (let i = 0; i < 2 * o.replicas; i++)
		upstreams.push(`127.0.0.1:${o.base + i}`);
	const tmp = [{ type: "tmpfs", target: "/tmp" }];
	return {
		version: "3.8",
		services: {
			model: {
				image: o.image,
				entrypoint: ["node", "/app/serve-slot.mjs"],
				environment: {
					ORT_DISABLE_TELEMETRY: "1",
					MDP_PORT_BASE: String(o.base),
					MDP_SLOT: "{{.Task.Slot}}",
				},
				user: `${IMAGE_UID}:${IMAGE_UID}`,
				read_only: true,
				volumes: tmp,
				healthcheck: HEALTHCHECK,
				networks: ["hostnet"],
				deploy: {
					replicas: o.replicas,
					update_config: {
						parallelism: 1,
						order: "start-first",
						delay: "2s",
						monitor: "5s",
						failure_action: "rollback",
					},
					rollback_config: { parallelism: 1, order: "start-first" },
					restart_policy: { condition: "any", delay: "1s" },
					resources: {
						limits: { cpus: String(o.cpus), memory: `${o.memoryMiB}M` },
					},
					labels: { "org.mdp.managed": "swarm" },
				},
			},
			balancer: {
				image: o.image,
				entrypoint: ["node", "/app/balance.mjs"],
				environment: {
					MDP_UPSTREAMS: upstreams.join(","),
					MDP_LISTEN: `127.0.0.1:${o.port}`,
				},
				user: `${IMAGE_UID}:${IMAGE_UID}`,
				read_only: true,
				networks: ["hostnet"],
				deploy: {
					replicas: 1,
					restart_policy: { condition: "any", delay: "1s" },
					labels: { "org.mdp.managed": "swarm" },
				},
			},
		},
		networks: { hostnet: { external: true, name: "host" } },
	};
}

/**
 * Kubernetes objects: a Deployment (readiness and liveness probes on the OIP endpoints, requests and
 * limits, non-root read-only security context, rolling updates that never go below N ready pods), a
 * Service, a HorizontalPodAutoscaler on CPU and a PodDisruptionBudget. Each is built with
 * `kubernetes-models` and validated against the Kubernetes API schema it ships (throws when invalid).
 *
 * @example
 * const objects = renderKubernetes({ image: "registry.example/mdp-penguins:1.0.0", replicas: 3 });
 * writeFileSync("k8s.yml", objects.map((o) => stringify(o)).join("---\n"));
 */
export function renderKubernetes(
	options: RenderOptions,
): Record<string, unknown>[] {
	const o = defaults(options);
	const labels = { app: o.name };
	const probe = (path: string, periodSeconds: number) => ({
		httpGet: { path, port: "http" },
		periodSeconds,
		timeoutSeconds: 2,
		failureThreshold: 3,
	});
	const deployment = new K8sDeployment({
		metadata: { name: o.name, labels },
		spec: {
			replicas: o.replicas,
			selector: { matchLabels: labels },
			strategy: {
				type: "RollingUpdate",
				rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
			},
			template: {
				metadata: { labels },
				spec: {
					securityContext: {
						runAsNonRoot: true,
						runAsUser: IMAGE_UID,
						runAsGroup: IMAGE_UID,
						seccompProfile: { type: "RuntimeDefault" },
					},
					containers: [
						{
							name: "model",
							image: o.image,
							args: ["--host", "0.0.0.0", "--port", String(DEFAULT_IMAGE_PORT)],
							ports: [{ name: "http", containerPort: DEFAULT_IMAGE_PORT }],
							env: [{ name: "ORT_DISABLE_TELEMETRY", value: "1" }],
							readinessProbe: probe("/v2/health/ready", 5),
							livenessProbe: probe("/v2/health/live", 10),
							startupProbe: {
								...probe("/v2/health/ready", 1),
								failureThreshold: 30,
							},
							resources: {
								requests: {
									cpu: `${Math.round(o.cpus * 500)}m`,
									memory: `${Math.round(o.memoryMiB / 2)}Mi`,
								},
								limits: {
									cpu: `${Math.round(o.cpus * 1000)}m`,
									memory: `${o.memoryMiB}Mi`,
								},
							},
							securityContext: {
								readOnlyRootFilesystem: true,
								allowPrivilegeEscalation: false,
								capabilities: { drop: ["ALL"] },
							},
							volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
						},
					],
					volumes: [
						{ name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } },
					],
					terminationGracePeriodSeconds: 30,
				},
			},
		},
	});
	const service = new Service({
		metadata: { name: o.name, labels },
		spec: {
			selector: labels,
			ports: [{ name: "http", port: 80, targetPort: "http" }],
		},
	});
	const hpa = new HorizontalPodAutoscaler({
		metadata: { name: o.name, labels },
		spec: {
			scaleTargetRef: {
				apiVersion: "apps/v1",
				kind: "Deployment",
				name: o.name,
			},
			minReplicas: o.replicas,
			maxReplicas: o.replicas * 4,
			metrics: [
				{
					type: "Resource",
					resource: {
						name: "cpu",
						target: { type: "Utilization", averageUtilization: 70 },
					},
				},
			],
		},
	});
	const pdb = new PodDisruptionBudget({
		metadata: { name: o.name, labels },
		spec: {
			minAvailable: Math.max(1, o.replicas - 1),
			selector: { matchLabels: labels },
		},
	});
	const objects = [deployment, service, hpa, pdb];
	for (const object of objects) object.validate();
	return objects.map((object) => object.toJSON() as Record<string, unknown>);
}

/**
 * Writes every manifest into `out` (created if missing; other files there are left alone):
 * `docker-compose.yml`, `docker-compose.host.yml`, `stack.yml` (Swarm) and `kubernetes.yml`, each written
 * to a temporary name first and renamed, so a failure leaves no half-written file. Everything is rendered
 * and validated before the first write. Resolves to the paths written.
 *
 * @example
 * await writeManifests("deploy", { image: "mdp-penguins:1.0.0-96b478faa7b6", replicas: 3 });
 */
export async function writeManifests(
	out: string,
	options: RenderOptions,
): Promise<string[]> {
	const dir = resolve(out);
	const files: [string, string][] = [
		["docker-compose.yml", toYaml(renderCompose(options))],
		["docker-compose.host.yml", toYaml(renderComposeHost(options))],
		["stack.yml", toYaml(renderSwarmStack(options))],
		["kubernetes.yml", renderKubernetes(options).map(toYaml).join("---\n")],
	];
	await mkdir(dir, { recursive: true });
	for (const [name, text] of files) {
		const temporary = join(dir, `.${name}.tmp-${process.pid}`);
		try {
			await writeFile(temporary, text);
			await rename(temporary, join(dir, name));
		} catch (error) {
			await rm(temporary, { force: true });
			throw error;
		}
	}
	return files.map(([name]) => join(dir, name));
}

/** YAML without anchors (shared objects written out each time, as people write these files). */
export function toYaml(value: unknown): string {
	return stringify(value, { aliasDuplicateObjects: false });
}
