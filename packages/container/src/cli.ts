import { parseArgs } from "node:util";
import { CoreError, runCli, stopSignal } from "@mdp/core";
import { buildModelImage } from "./build-image.ts";
import { connectEngine, type EngineName } from "./engine.ts";
import { writeManifests } from "./render.ts";
import { down, start } from "./start.ts";

const USAGE = `usage: mdp-container <command> [options]

  build  --bundle DIR [--tag T] [--base IMAGE] [--engine docker|podman]
         Builds an image serving the bundle (offline base from this machine's Node unless --base).
  up     --image T | --bundle DIR  [--replicas N] [--cpus C] [--cpuset-cpus 0] [--memory M] [--idle-timeout 30s]
         [--port P] [--log-file FILE] [--engine docker|podman]
         Runs N containers behind one balancer on 127.0.0.1:P until Ctrl-C.
  down   [--deployment ID] [--engine docker|podman]
         Removes the containers mdp-container started (all, or one deployment's), also after a crash.
  render --image T --out DIR [--replicas N] [--cpus C] [--memory M] [--port P]
         Writes docker-compose.yml (and a host-network variant), a Docker Swarm stack and Kubernetes
         manifests.

The engine is DOCKER_HOST or /var/run/docker.sock; --engine podman uses Podman's Docker API socket
(MDP_PODMAN_SOCK, else /run/mdp-podman.sock).`;

const ENGINES = ["docker", "podman"];

function engineOption(value: string | undefined): EngineName {
	const engine = value ?? "docker";
	if (!ENGINES.includes(engine))
		throw new CoreError(
			"INVALID_ARGUMENT",
			`--engine must be docker or podman, got "${engine}"`,
		);
	return engine as EngineName;
}

function positiveNumber(
	name: string,
	value: string | undefined,
): number | undefined {
	if (value === undefined) return undefined;
	const n = Number(value);
	if (!Number.isFinite(n) || n <= 0)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`--${name} must be a positive number, got "${value}"`,
		);
	return n;
}

function wholeNumber(
	name: string,
	value: string | undefined,
	min: number,
): number | undefined {
	if (value === undefined) return undefined;
	const n = Number(value);
	if (!Number.isInteger(n) || n < min)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`--${name} must be a whole number ≥ ${min}, got "${value}"`,
		);
	return n;
}

/** `30s`, `500ms`, `2m`, or a bare number of seconds → milliseconds. */
function parseDuration(
	name: string,
	value: string | undefined,
): number | undefined {
	if (value === undefined) return undefined;
	const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
	if (!match)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`--${name} must be a duration such as 30s, 500ms or 2m, got "${value}"`,
		);
	const unit = match[2] ?? "s";
	return Number(match[1]) * (unit === "ms" ? 1 : unit === "s" ? 1000 : 60_000);
}

async function main(): Promise<number> {
	const [command, ...rest] = process.argv.slice(2);
	if (command === undefined || command === "--help" || command === "-h") {
		console.log(USAGE);
		return command === undefined ? 2 : 0;
	}
	const { values } = parseArgs({
		args: rest,
		options: {
			bundle: { type: "string" },
			tag: { type: "string" },
			base: { type: "string" },
			engine: { type: "string" },
			image: { type: "string" },
			replicas: { type: "string" },
			cpus: { type: "string" },
			"cpuset-cpus": { type: "string" },
			memory: { type: "string" },
			"idle-timeout": { type: "string" },
			port: { type: "string" },
			"log-file": { type: "string" },
			deployment: { type: "string" },
			out: { type: "string" },
			help: { type: "boolean", short: "h" },
		},
		strict: true,
	});
	if (values.help) {
		console.log(USAGE);
		return 0;
	}
	const log = (line: string) => process.stderr.write(`${line}\n`);
	switch (command) {
		case "build": {
			if (!values.bundle)
				throw new CoreError("INVALID_ARGUMENT", "build needs --bundle DIR");
			const engine = await connectEngine({
				engine: engineOption(values.engine),
			});
			const image = await buildModelImage(engine, {
				bundle: values.bundle,
				tag: values.tag,
				base: values.base,
				onProgress: (line) => log(`  ${line}`),
			});
			log(
				`built ${image.tag} on ${engine.name}: ${(image.bytes / 1e6).toFixed(1)} MB in ${(image.buildMs / 1000).toFixed(1)} s (base ${image.base})`,
			);
			console.log(JSON.stringify({ event: "built", ...image }));
			return 0;
		}
		case "up": {
			const stopping = stopSignal();
			if (!values.image && !values.bundle)
				throw new CoreError(
					"INVALID_ARGUMENT",
					"up needs --image T or --bundle DIR",
				);
			const engine = await connectEngine({
				engine: engineOption(values.engine),
			});
			const deployment = await start({
				engine,
				image: values.image,
				bundle: values.image ? undefined : values.bundle,
				base: values.base,
				replicas: wholeNumber("replicas", values.replicas, 0) ?? 1,
				cpus: positiveNumber("cpus", values.cpus),
				cpusetCpus: values["cpuset-cpus"],
				memory: values.memory,
				idleTimeoutMs: parseDuration("idle-timeout", values["idle-timeout"]),
				port: wholeNumber("port", values.port, 0),
				logFile: values["log-file"],
				onProgress: log,
			});
			console.log(
				JSON.stringify({
					event: "listening",
					url: deployment.url,
					deployment: deployment.id,
					engine: engine.name,
					image: deployment.image(),
					logFile: deployment.logFile,
					units: deployment.units(),
				}),
			);
			log(
				`mdp-container: ${deployment.url} (deployment ${deployment.id}, logs in ${deployment.logFile}); Ctrl-C stops it`,
			);
			await stopping;
			log("mdp-container: stopping");
			await deployment.stop();
			return 0;
		}
		case "down": {
			const engine = await connectEngine({
				engine: engineOption(values.engine),
			});
			const removed = await down(engine, { deployment: values.deployment });
			log(
				`removed ${removed.length} container(s)${removed.length ? `: ${removed.join(", ")}` : ""}`,
			);
			return 0;
		}
		case "render": {
			if (!values.image || !values.out)
				throw new CoreError(
					"INVALID_ARGUMENT",
					"render needs --image T and --out DIR",
				);
			const files = await writeManifests(values.out, {
				image: values.image,
				replicas: wholeNumber("replicas", values.replicas, 1) ?? 2,
				cpus: positiveNumber("cpus", values.cpus),
				memory: values.memory,
				port: wholeNumber("port", values.port, 1),
			});
			for (const file of files) console.log(file);
			return 0;
		}
		default:
			throw new CoreError(
				"INVALID_ARGUMENT",
				`unknown command "${command}": use build, up, down or render`,
			);
	}
}

runCli("mdp-container", main);
