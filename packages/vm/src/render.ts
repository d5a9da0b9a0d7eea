import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
	chmod,
	cp,
	mkdir,
	mkdtemp,
	readFile,
	rename,
	rm,
	writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";
import { CoreError, loadBundle } from "@mdp/core";
import { toHaproxyConfig } from "@mdp/core/balancer";
import { buildServer } from "@mdp/core/build";
import { stringify } from "yaml";
import { type InstanceSize, parseInstanceSize } from "./instance-size.ts";

/** Options of {@link renderCloud}. */
export interface RenderOptions {
	bundle: string;
	/** Output folder, replaced whole (written beside it first: a failed render leaves nothing). */
	out: string;
	target: "gce" | "aws";
	replicas: number;
	min: number;
	max: number;
	/** Requests in flight per instance the cloud autoscaler aims at. Default 4. */
	targetInFlight?: number;
	/** Machine size; picks the closest machine type. Default `1cpu-512mb`. */
	instanceSize?: string;
	/** Port the server listens on in each VM. Default 8080. */
	port?: number;
}

/** Paths on the VM (the start script takes `MDP_PREFIX` to run elsewhere, as the tests do). */
const PREFIX = "/opt/mdp";
const UNIT = "mdp-serve.service";

/**
 * The hardened systemd unit that runs the server on each VM: restart policy, a dynamic non-root user,
 * read-only system, no new privileges, the machine size's memory and CPU limits.
 *
 * @example
 * const unit = renderSystemdUnit({ size: parseInstanceSize("1cpu-512mb"), port: 8080 });
 * // write it to /etc/systemd/system/mdp-serve.service
 */
export function renderSystemdUnit(options: {
	size: InstanceSize;
	port: number;
	prefix?: string;
}): string {
	const prefix = options.prefix ?? PREFIX;
	return `[Unit]
Description=mdp model server (process per VM, behind the cloud load balancer)
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=60
StartLimitBurst=10

[Service]
Type=simple
ExecStart=/bin/sh ${prefix}/bin/mdp-start
Environment=MDP_PREFIX=${prefix} MDP_HOST=0.0.0.0 MDP_PORT=${options.port} ORT_DISABLE_TELEMETRY=1
# SIGTERM: the server drains (readiness false, in-flight requests finish) and exits 0.
KillSignal=SIGTERM
TimeoutStopSec=40
Restart=always
RestartSec=1
# Non-root, throwaway user; nothing on the system is writable.
DynamicUser=yes
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native
UMask=0077
# The machine type's limits, also inside the VM (V8's JIT needs W+X pages: no MemoryDenyWriteExecute).
MemoryMax=${options.size.memoryBytes}
CPUQuota=${Math.round(options.size.cpus * 100)}%

[Install]
WantedBy=multi-user.target
`;
}

/** Installs the artifact tarball (URL or file) into `MDP_PREFIX`, checking its sha256. */
function installScript(sha256: string): string {
	return `#!/bin/sh
# Installs the mdp server artifact (bundled server, pruned onnxruntime, model) into $MDP_PREFIX.
set -eu
MDP_PREFIX="\${MDP_PREFIX:-${PREFIX}}"
MDP_ARTIFACT="\${MDP_ARTIFACT:?set MDP_ARTIFACT to the artifact URL or file}"
MDP_ARTIFACT_SHA256="\${MDP_ARTIFACT_SHA256:-${sha256}}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
case "$MDP_ARTIFACT" in
  http://*|https://*|gs://*|s3://*)
    case "$MDP_ARTIFACT" in
      gs://*) gsutil cp "$MDP_ARTIFACT" "$work/artifact.tar.gz" ;;
      s3://*) aws s3 cp "$MDP_ARTIFACT" "$work/artifact.tar.gz" ;;
      *) curl -fsSL --retry 5 -o "$work/artifact.tar.gz" "$MDP_ARTIFACT" ;;
    esac ;;
  *) cp "$MDP_ARTIFACT" "$work/artifact.tar.gz" ;;
esac
echo "$MDP_ARTIFACT_SHA256  $work/artifact.tar.gz" | sha256sum -c - >/dev/null
mkdir -p "$MDP_PREFIX/bin" "$work/x"
tar -xzf "$work/artifact.tar.gz" -C "$work/x"
rm -rf "$MDP_PREFIX/server" "$MDP_PREFIX/models"
mv "$work/x/server" "$MDP_PREFIX/server"
mv "$work/x/models" "$MDP_PREFIX/models"
cp "$work/x/mdp-start" "$MDP_PREFIX/bin/mdp-start"
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
  echo "mdp-install: Node.js 20 or later is required on PATH" >&2
  exit 1
fi
echo "mdp-install: installed into $MDP_PREFIX"
`;
}

/** The start command of each VM (the unit's ExecStart), with the paths from the environment. */
function startScript(modelName: string): string {
	return `#!/bin/sh
set -eu
MDP_PREFIX="\${MDP_PREFIX:-${PREFIX}}"
export ORT_DISABLE_TELEMETRY=1
exec node "$MDP_PREFIX/server/mdp-serve.mjs" --host "\${MDP_HOST:-0.0.0.0}" --port "\${MDP_PORT:-8080}" \\
  --model-root "$MDP_PREFIX/models" --bundle "$MDP_PREFIX/models/${modelName}"
`;
}

/**
 * The cloud-init user data: Node 20, the install script and the unit written to disk, then the artifact
 * installed (its sha256 checked) and the unit enabled.
 *
 * @example
 * const userData = renderCloudInit({ unit, install, artifactUrl: "gs://bucket/mdp-server.tar.gz" });
 */
export function renderCloudInit(options: {
	unit: string;
	install: string;
	artifactUrl: string;
	nodeVersion?: string;
}): string {
	const node = options.nodeVersion ?? "20.19.5";
	const doc = {
		package_update: true,
		packages: ["curl", "ca-certificates", "xz-utils", "tar"],
		write_files: [
			{
				path: "/usr/local/sbin/mdp-install",
				permissions: "0755",
				owner: "root:root",
				content: options.install,
			},
			{
				path: `/etc/systemd/system/${UNIT}`,
				permissions: "0644",
				owner: "root:root",
				content: options.unit,
			},
		],
		runcmd: [
			[
				"sh",
				"-c",
				`command -v node >/dev/null || (curl -fsSL https://nodejs.org/dist/v${node}/node-v${node}-linux-x64.tar.xz | tar -xJ -C /usr/local --strip-components=1)`,
			],
			[
				"sh",
				"-c",
				`MDP_ARTIFACT='${options.artifactUrl}' /usr/local/sbin/mdp-install`,
			],
			["systemctl", "daemon-reload"],
			["systemctl", "enable", "--now", UNIT],
		],
	};
	return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}

/** Closest machine type to an instance size (shared-core types for small sizes). */
function machineType(target: "gce" | "aws", size: InstanceSize): string {
	const mib = size.memoryBytes / 1024 ** 2;
	if (target === "gce") {
		if (size.cpus <= 0.25 && mib <= 1024) return "e2-micro";
		if (size.cpus <= 0.5 && mib <= 2048) return "e2-small";
		if (size.cpus <= 1 && mib <= 4096) return "e2-medium";
		return `e2-standard-${Math.max(2, 2 ** Math.ceil(Math.log2(size.cpus)))}`;
	}
	if (size.cpus <= 1 && mib <= 512) return "t3.nano";
	if (size.cpus <= 1 && mib <= 1024) return "t3.micro";
	if (size.cpus <= 2 && mib <= 2048) return "t3.small";
	if (size.cpus <= 2 && mib <= 4096) return "t3.medium";
	return "m6i.large";
}

/** A Terraform interpolation, `${expr}` (built so that it never reads as a JS template by mistake). */
const tf = (expression: string) => `$${"{"}${expression}}`;

const IN_FLIGHT_METRIC = "mdp_http_requests_in_flight";

function terraformGce(o: {
	min: number;
	max: number;
	replicas: number;
	target: number;
	port: number;
	machine: string;
}): unknown {
	return {
		terraform: {
			required_providers: {
				google: { source: "hashicorp/google", version: "~> 5.0" },
			},
		},
		provider: {
			google: { project: tf("var.project"), region: tf("var.region") },
		},
		variable: {
			project: { type: "string" },
			region: { type: "string", default: "europe-west1" },
			network: { type: "string", default: "default" },
			artifact_url: {
				type: "string",
				description: "gs:// or https:// URL of mdp-server.tar.gz",
			},
			machine_type: { type: "string", default: o.machine },
		},
		resource: {
			google_compute_instance_template: {
				mdp: {
					name_prefix: "mdp-",
					machine_type: tf("var.machine_type"),
					disk: [
						{
							source_image: "debian-cloud/debian-12",
							auto_delete: true,
							boot: true,
						},
					],
					network_interface: [{ network: tf("var.network") }],
					metadata: {
						"user-data": tf(
							`replace(file("${tf("path.module")}/cloud-init.yaml"), "__ARTIFACT_URL__", var.artifact_url)`,
						),
					},
					tags: ["mdp-instance"],
					lifecycle: { create_before_destroy: true },
				},
			},
			google_compute_health_check: {
				mdp: {
					name: "mdp-ready",
					check_interval_sec: 5,
					timeout_sec: 2,
					healthy_threshold: 1,
					unhealthy_threshold: 2,
					http_health_check: {
						port: o.port,
						request_path: "/v2/health/ready",
					},
				},
			},
			google_compute_region_instance_group_manager: {
				mdp: {
					name: "mdp",
					region: tf("var.region"),
					base_instance_name: "mdp",
					version: [
						{
							instance_template: tf(
								"google_compute_instance_template.mdp.self_link",
							),
						},
					],
					named_port: [{ name: "http", port: o.port }],
					auto_healing_policies: [
						{
							health_check: tf("google_compute_health_check.mdp.id"),
							initial_delay_sec: 120,
						},
					],
					update_policy: [
						{
							type: "PROACTIVE",
							minimal_action: "REPLACE",
							max_surge_fixed: 3,
							max_unavailable_fixed: 0,
						},
					],
				},
			},
			google_compute_region_autoscaler: {
				mdp: {
					name: "mdp",
					region: tf("var.region"),
					target: tf("google_compute_region_instance_group_manager.mdp.id"),
					autoscaling_policy: [
						{
							min_replicas: o.min,
							max_replicas: o.max,
							cooldown_period: 60,
							metric: [
								{
									// Requests in flight per instance, scraped from /metrics by the Ops Agent.
									name: `prometheus.googleapis.com/${IN_FLIGHT_METRIC}/gauge`,
									target: o.target,
									type: "GAUGE",
								},
							],
							scale_in_control: [
								{
									max_scaled_in_replicas: [{ fixed: 1 }],
									time_window_sec: 300,
								},
							],
						},
					],
				},
			},
			google_compute_firewall: {
				mdp_health_and_lb: {
					name: "mdp-allow-lb",
					network: tf("var.network"),
					source_ranges: ["130.211.0.0/22", "35.191.0.0/16"],
					target_tags: ["mdp-instance"],
					allow: [{ protocol: "tcp", ports: [String(o.port)] }],
				},
			},
			google_compute_backend_service: {
				mdp: {
					name: "mdp",
					protocol: "HTTP",
					port_name: "http",
					load_balancing_scheme: "EXTERNAL_MANAGED",
					health_checks: [tf("google_compute_health_check.mdp.id")],
					connection_draining_timeout_sec: 35,
					backend: [
						{
							group: tf(
								"google_compute_region_instance_group_manager.mdp.instance_group",
							),
							balancing_mode: "UTILIZATION",
							capacity_scaler: 1,
						},
					],
				},
			},
			google_compute_url_map: {
				mdp: {
					name: "mdp",
					default_service: tf("google_compute_backend_service.mdp.id"),
				},
			},
			google_compute_target_http_proxy: {
				mdp: { name: "mdp", url_map: tf("google_compute_url_map.mdp.id") },
			},
			google_compute_global_forwarding_rule: {
				mdp: {
					name: "mdp",
					target: tf("google_compute_target_http_proxy.mdp.id"),
					port_range: "80",
					load_balancing_scheme: "EXTERNAL_MANAGED",
				},
			},
		},
		output: {
			endpoint: {
				value: `http://${tf("google_compute_global_forwarding_rule.mdp.ip_address")}`,
			},
		},
	};
}

function terraformAws(o: {
	min: number;
	max: number;
	replicas: number;
	target: number;
	port: number;
	machine: string;
}): unknown {
	return {
		terraform: {
			required_providers: {
				aws: { source: "hashicorp/aws", version: "~> 5.0" },
			},
		},
		provider: { aws: { region: tf("var.region") } },
		variable: {
			region: { type: "string", default: "eu-west-1" },
			vpc_id: { type: "string" },
			subnet_ids: { type: "list(string)" },
			ami_id: { type: "string", description: "A Debian 12 AMI of the region" },
			artifact_url: {
				type: "string",
				description: "s3:// or https:// URL of mdp-server.tar.gz",
			},
			instance_type: { type: "string", default: o.machine },
		},
		resource: {
			aws_security_group: {
				lb: {
					name_prefix: "mdp-lb-",
					vpc_id: tf("var.vpc_id"),
					ingress: [
						{
							from_port: 80,
							to_port: 80,
							protocol: "tcp",
							cidr_blocks: ["0.0.0.0/0"],
							description: "HTTP",
							ipv6_cidr_blocks: [],
							prefix_list_ids: [],
							security_groups: [],
							self: false,
						},
					],
					egress: [
						{
							from_port: 0,
							to_port: 0,
							protocol: "-1",
							cidr_blocks: ["0.0.0.0/0"],
							description: "all",
							ipv6_cidr_blocks: [],
							prefix_list_ids: [],
							security_groups: [],
							self: false,
						},
					],
				},
				instance: {
					name_prefix: "mdp-instance-",
					vpc_id: tf("var.vpc_id"),
					ingress: [
						{
							from_port: o.port,
							to_port: o.port,
							protocol: "tcp",
							security_groups: [tf("aws_security_group.lb.id")],
							description: "from the load balancer",
							cidr_blocks: [],
							ipv6_cidr_blocks: [],
							prefix_list_ids: [],
							self: false,
						},
					],
					egress: [
						{
							from_port: 0,
							to_port: 0,
							protocol: "-1",
							cidr_blocks: ["0.0.0.0/0"],
							description: "all",
							ipv6_cidr_blocks: [],
							prefix_list_ids: [],
							security_groups: [],
							self: false,
						},
					],
				},
			},
			aws_launch_template: {
				mdp: {
					name_prefix: "mdp-",
					image_id: tf("var.ami_id"),
					instance_type: tf("var.instance_type"),
					vpc_security_group_ids: [tf("aws_security_group.instance.id")],
					user_data: tf(
						`base64encode(replace(file("${tf("path.module")}/cloud-init.yaml"), "__ARTIFACT_URL__", var.artifact_url))`,
					),
					metadata_options: { http_tokens: "required" },
				},
			},
			aws_lb: {
				mdp: {
					name: "mdp",
					load_balancer_type: "application",
					security_groups: [tf("aws_security_group.lb.id")],
					subnets: tf("var.subnet_ids"),
				},
			},
			aws_lb_target_group: {
				mdp: {
					name: "mdp",
					port: o.port,
					protocol: "HTTP",
					vpc_id: tf("var.vpc_id"),
					deregistration_delay: 35,
					health_check: {
						path: "/v2/health/ready",
						interval: 5,
						timeout: 2,
						healthy_threshold: 2,
						unhealthy_threshold: 2,
						matcher: "200",
					},
				},
			},
			aws_lb_listener: {
				http: {
					load_balancer_arn: tf("aws_lb.mdp.arn"),
					port: 80,
					protocol: "HTTP",
					default_action: {
						type: "forward",
						target_group_arn: tf("aws_lb_target_group.mdp.arn"),
					},
				},
			},
			aws_autoscaling_group: {
				mdp: {
					name_prefix: "mdp-",
					min_size: o.min,
					max_size: o.max,
					desired_capacity: o.replicas,
					vpc_zone_identifier: tf("var.subnet_ids"),
					target_group_arns: [tf("aws_lb_target_group.mdp.arn")],
					// Autohealing: an instance the load balancer sees unready is replaced.
					health_check_type: "ELB",
					health_check_grace_period: 120,
					launch_template: {
						id: tf("aws_launch_template.mdp.id"),
						version: tf("aws_launch_template.mdp.latest_version"),
					},
					instance_refresh: {
						strategy: "Rolling",
						preferences: { min_healthy_percentage: 100 },
					},
				},
			},
			aws_autoscaling_policy: {
				in_flight: {
					name: "mdp-in-flight",
					autoscaling_group_name: tf("aws_autoscaling_group.mdp.name"),
					policy_type: "TargetTrackingScaling",
					target_tracking_configuration: {
						target_value: o.target,
						// Requests in flight per instance, published by the CloudWatch agent's Prometheus scrape.
						customized_metric_specification: {
							metric_name: IN_FLIGHT_METRIC,
							namespace: "mdp",
							statistic: "Average",
						},
					},
				},
			},
		},
		output: { endpoint: { value: `http://${tf("aws_lb.mdp.dns_name")}` } },
	};
}

/**
 * Writes what a real cloud deployment of the VM pattern needs: the server artifact (`mdp-server.tar.gz`:
 * bundled server, onnxruntime pruned to linux-x64, the model, the start script) to upload, the cloud-init
 * user data that installs it and starts the hardened systemd unit, the unit itself, an HAProxy config
 * for a self-managed balancer, and Terraform JSON: instance template / launch template, a managed group
 * with health-checked autohealing, an autoscaler on requests in flight per instance, an HTTP load balancer
 * checking the OIP ready endpoint. Returns the files written.
 *
 * @example
 * await renderCloud({ bundle: referenceBundleDir, out: "deploy/gce", target: "gce", replicas: 2, min: 2, max: 6 });
 * // upload deploy/gce/mdp-server.tar.gz; terraform -chdir=deploy/gce apply -var artifact_url=gs://…
 */
export async function renderCloud(options: RenderOptions): Promise<string[]> {
	const size = parseInstanceSize(options.instanceSize ?? "1cpu-512mb");
	const port = options.port ?? 8080;
	if (options.min > options.max || options.max < 1)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`max (${options.max}) must be at least min (${options.min}) and 1`,
		);
	const { manifest } = await loadBundle(options.bundle);
	const parent = dirname(options.out);
	await mkdir(parent, { recursive: true });
	const staging = await mkdtemp(join(parent, ".mdp-vm-render-"));
	try {
		// The artifact: server/ (built), models/<name>/ (the bundle), mdp-start.
		const tree = join(staging, ".artifact");
		await buildServer({ out: join(tree, "server") });
		await cp(options.bundle, join(tree, "models", manifest.name), {
			recursive: true,
		});
		await writeFile(join(tree, "mdp-start"), startScript(manifest.name), {
			mode: 0o755,
		});
		const tarball = join(staging, "mdp-server.tar.gz");
		const tar = spawnSync(
			"tar",
			["-czf", tarball, "-C", tree, "server", "models", "mdp-start"],
			{ encoding: "utf8" },
		);
		if (tar.status !== 0)
			throw new CoreError("UNAVAILABLE", `tar failed: ${tar.stderr}`);
		await rm(tree, { recursive: true, force: true });
		const sha256 = createHash("sha256")
			.update(await readFile(tarball))
			.digest("hex");
		const unit = renderSystemdUnit({ size, port });
		const install = installScript(sha256);
		const files: Record<string, string> = {
			[UNIT]: unit,
			"mdp-install.sh": install,
			"mdp-start.sh": startScript(manifest.name),
			"cloud-init.yaml": renderCloudInit({
				unit,
				install,
				artifactUrl: "__ARTIFACT_URL__",
			}),
			"haproxy.cfg": toHaproxyConfig({
				port: 80,
				hostname: "0.0.0.0",
				upstreams: Array.from({ length: options.max }, (_, i) => ({
					id: `vm-${i + 1}`,
					host: `10.0.1.${i + 10}`,
					port,
				})),
				statsSocket: "/run/haproxy/admin.sock",
			}),
			"main.tf.json": `${JSON.stringify(
				(options.target === "gce" ? terraformGce : terraformAws)({
					min: options.min,
					max: options.max,
					replicas: options.replicas,
					target: options.targetInFlight ?? 4,
					port,
					machine: machineType(options.target, size),
				}),
				null,
				2,
			)}\n`,
		};
		for (const [name, text] of Object.entries(files))
			await writeFile(join(staging, name), text);
		await chmod(staging, 0o755);
		await rm(options.out, { recursive: true, force: true });
		await rename(staging, options.out);
		return ["mdp-server.tar.gz", ...Object.keys(files)].map((f) =>
			join(options.out, f),
		);
	} catch (error) {
		await rm(staging, { recursive: true, force: true });
		throw error;
	}
}
