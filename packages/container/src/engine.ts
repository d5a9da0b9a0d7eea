import { existsSync } from "node:fs";
import { CoreError } from "@mdp/core";
import Docker from "dockerode";

/** A container engine this package drives through the Docker Engine API. */
export type EngineName = "docker" | "podman";

/** A reachable engine: the dockerode client and what the engine said about itself. */
export interface Engine {
	name: EngineName;
	docker: Docker;
	/** Where it was reached: a socket path or the `DOCKER_HOST` value. */
	address: string;
	/** Engine version (`20.10.24`, `4.3.1`). */
	version: string;
	/** Docker Engine API version it speaks (`1.41`). */
	apiVersion: string;
}

/** Options of {@link connectEngine}. */
export interface ConnectEngineOptions {
	/** Default `docker` (`DOCKER_HOST`, else `/var/run/docker.sock`). */
	engine?: EngineName;
	/** A socket path that overrides the engine's default one. */
	socketPath?: string;
}

/** Label every container and image of this package carries, so that `down` finds them after a crash. */
export const MANAGED_LABEL = "org.mdp.managed";

const PODMAN_SOCKETS = [
	"/run/mdp-podman.sock",
	"/run/podman/podman.sock",
	"/var/run/podman/podman.sock",
];

/** Where `engine` is expected to answer when no socket is given. */
export function defaultEngineAddress(engine: EngineName): string {
	if (engine === "podman") {
		const configured = process.env.MDP_PODMAN_SOCK;
		if (configured) return configured;
		return PODMAN_SOCKETS.find((p) => existsSync(p)) ?? "/run/mdp-podman.sock";
	}
	return process.env.DOCKER_HOST ?? "/var/run/docker.sock";
}

/**
 * Connects to a container engine over its Docker Engine API and checks that it answers: Docker through
 * `DOCKER_HOST` or its default socket, Podman through the socket of `podman system service`
 * (`MDP_PODMAN_SOCK`, else `/run/mdp-podman.sock`, else `/run/podman/podman.sock`). When nothing answers,
 * the error is one sentence saying how to start one.
 *
 * @example
 * const engine = await connectEngine({ engine: "podman" });
 * console.log(engine.version, engine.apiVersion); // 4.3.1 1.41
 */
export async function connectEngine(
	options: ConnectEngineOptions = {},
): Promise<Engine> {
	const name = options.engine ?? "docker";
	if (name !== "docker" && name !== "podman")
		throw new CoreError(
			"INVALID_ARGUMENT",
			`unknown engine "${String(name)}": use docker or podman`,
		);
	const address = options.socketPath ?? defaultEngineAddress(name);
	const docker =
		options.socketPath || name === "podman" || !process.env.DOCKER_HOST
			? new Docker({ socketPath: address })
			: new Docker();
	try {
		const version = (await withTimeout(docker.version(), 5000)) as {
			Version: string;
			ApiVersion: string;
		};
		return {
			name,
			docker,
			address,
			version: version.Version,
			apiVersion: version.ApiVersion,
		};
	} catch (error) {
		const how =
			name === "podman"
				? "start Podman's Docker API with `podman system service --time=0 unix:///run/mdp-podman.sock` (or run scripts/ci-engines.sh)"
				: "start Docker with `dockerd &` (or run scripts/ci-engines.sh), or point DOCKER_HOST at a running engine";
		throw new CoreError(
			"UNAVAILABLE",
			`no ${name} engine answers at ${address} (${(error as Error).message}): ${how}.`,
			{ cause: error },
		);
	}
}

/** Whether `engine` answers now (for tests that need one). */
export async function engineAvailable(engine: EngineName): Promise<boolean> {
	try {
		await connectEngine({ engine });
		return true;
	} catch {
		return false;
	}
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	return Promise.race([
		promise,
		new Promise<never>((_, reject) => {
			timer = setTimeout(
				() => reject(new Error(`no answer within ${ms} ms`)),
				ms,
			);
		}),
	]).finally(() => clearTimeout(timer));
}

/** Reads a dockerode progress stream to its end, passing each decoded message on; rejects on an error message. */
export function followProgress(
	docker: Docker,
	stream: NodeJS.ReadableStream,
	onMessage: (message: ProgressMessage) => void = () => {},
): Promise<ProgressMessage[]> {
	return new Promise((resolve, reject) => {
		docker.modem.followProgress(
			stream,
			(error: Error | null, output: ProgressMessage[]) => {
				if (error) return reject(error);
				const failed = output.find((m) => m.error || m.errorDetail);
				if (failed)
					return reject(
						new CoreError(
							"UNAVAILABLE",
							`image build failed: ${failed.error ?? failed.errorDetail?.message}`,
						),
					);
				resolve(output);
			},
			onMessage,
		);
	});
}

/** One message of a build or pull progress stream. */
export interface ProgressMessage {
	stream?: string;
	status?: string;
	error?: string;
	errorDetail?: { message?: string };
	aux?: { ID?: string };
}
