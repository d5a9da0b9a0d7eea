import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CoreError, parseManifestText } from "@mdp/core";
import { buildServer, folderBytes } from "@mdp/core/build";
import {
	ensureBaseImage,
	IMAGE_UID,
	imageBytes,
	progressLines,
} from "./base-image.ts";
import {
	type ContextEntry,
	folderEntries,
	packContext,
} from "./build-context.ts";
import { type Engine, followProgress, MANAGED_LABEL } from "./engine.ts";
import { DEFAULT_IMAGE_PORT } from "./image-defaults.ts";
import {
	BALANCE_MJS,
	HEALTHCHECK_MJS,
	SERVE_SLOT_MJS,
} from "./image-scripts.ts";

/** Options of {@link buildModelImage}. */
export interface BuildModelImageOptions {
	/** The model bundle folder (`mdp.json`, `model.onnx`). */
	bundle: string;
	/** Image tag; default `<repository>:<version>-<sha256 prefix>`. */
	tag?: string;
	/** Repository part of the default tag; default `mdp-<model>`. */
	repository?: string;
	/** Base image with Node 20+ at `node` on its PATH; default the offline base of {@link ensureBaseImage}. */
	base?: string;
	/** Extra labels (the package adds its own and the OCI ones). */
	labels?: Record<string, string>;
	/** Each line of build progress. */
	onProgress?: (line: string) => void;
}

/** An image built for a model. */
export interface ModelImage {
	tag: string;
	/** Image id (`sha256:…`). */
	id: string;
	base: string;
	model: { name: string; version: string; sha256: string };
	/** Image size as the engine reports it. */
	bytes: number;
	/** Wall time of the build, base included when it was built now. */
	buildMs: number;
	/** Bytes of what the image adds to its base, per part. */
	parts: Record<string, number>;
}

export { DEFAULT_IMAGE_PORT };

const DOCKER_FORMAT = "application/vnd.docker.distribution.manifest.v2+json";

const LABEL = {
	model: "org.mdp.model.name",
	version: "org.mdp.model.version",
	sha256: "org.mdp.model.sha256",
} as const;

/**
 * Builds a container image that serves a model bundle: core's bundled server (`mdp-serve.mjs`),
 * onnxruntime-node pruned to linux-x64 and the bundle, on the offline base (or `base`), through the engine's
 * build endpoint with a Dockerfile and a context generated in memory. The image runs as a non-root user,
 * has a `HEALTHCHECK` on the OIP ready endpoint (a Node one-liner: the image has no curl), works with a
 * read-only root filesystem, sets `ORT_DISABLE_TELEMETRY=1` and carries OCI labels with the model's name,
 * version and digest. The server listens on `$MDP_PORT` (8080) at 127.0.0.1; pass `--port`/`--host` to
 * change them.
 *
 * @example
 * const image = await buildModelImage(engine, { bundle: referenceBundleDir, onProgress: console.error });
 * console.log(image.tag, image.bytes); // mdp-penguins:1.0.0-96b478faa7b6 138…
 */
export async function buildModelImage(
	engine: Engine,
	options: BuildModelImageOptions,
): Promise<ModelImage> {
	const started = performance.now();
	const bundle = resolve(options.bundle);
	let manifestText: string;
	try {
		manifestText = await readFile(join(bundle, "mdp.json"), "utf8");
	} catch (error) {
		throw new CoreError(
			"NOT_FOUND",
			`${bundle} is not a model bundle: cannot read ${join(bundle, "mdp.json")}`,
			{ cause: error },
		);
	}
	const manifest = parseManifestText(manifestText, join(bundle, "mdp.json"));
	const model = {
		name: manifest.name,
		version: manifest.version,
		sha256: manifest.model.sha256,
	};
	const tag =
		options.tag ??
		`${options.repository ?? `mdp-${model.name}`}:${model.version}-${model.sha256.slice(0, 12)}`;
	const base =
		options.base ??
		(await ensureBaseImage(engine, { onProgress: options.onProgress })).tag;
	if (options.base && (await imageBytes(engine, options.base)) === undefined)
		throw new CoreError(
			"NOT_FOUND",
			`base image ${options.base} is not on the ${engine.name} engine and nothing is pulled here: build or load it first, or leave --base out for the offline base`,
		);

	const server = await serverEntries();
	const labels: Record<string, string> = {
		[MANAGED_LABEL]: "image",
		[LABEL.model]: model.name,
		[LABEL.version]: model.version,
		[LABEL.sha256]: model.sha256,
		"org.opencontainers.image.title": `mdp-${model.name}`,
		"org.opencontainers.image.description": `Serves model ${model.name} ${model.version} over the Open Inference Protocol`,
		"org.opencontainers.image.version": model.version,
		"org.opencontainers.image.base.name": base,
		...options.labels,
	};
	const entries: ContextEntry[] = [
		{ name: "Dockerfile", data: Buffer.from(dockerfile(base, labels)) },
		{ name: "healthcheck.mjs", data: Buffer.from(HEALTHCHECK_MJS) },
		{ name: "serve-slot.mjs", data: Buffer.from(SERVE_SLOT_MJS) },
		{ name: "balance.mjs", data: Buffer.from(BALANCE_MJS) },
		...server.entries,
		...(await folderEntries(bundle, "app/model")),
	];
	const stream = await engine.docker.buildImage(packContext(entries), {
		t: tag,
		rm: true,
		forcerm: true,
		// Podman builds OCI images by default, a format without HEALTHCHECK: ask for the Docker format.
		...(engine.name === "podman" ? { outputformat: DOCKER_FORMAT } : {}),
	} as Parameters<typeof engine.docker.buildImage>[1]);
	await followProgress(
		engine.docker,
		stream,
		progressLines(options.onProgress),
	);
	const info = await engine.docker.getImage(tag).inspect();
	return {
		tag,
		id: info.Id,
		base,
		model,
		bytes: info.Size,
		buildMs: performance.now() - started,
		parts: { ...server.parts, model: await folderBytes(bundle) },
	};
}

let cachedServer:
	| Promise<{ entries: ContextEntry[]; parts: Record<string, number> }>
	| undefined;

/**
 * The server part of every image (core's bundled server and onnxruntime-node pruned to linux-x64), built
 * once per process and kept in memory: a model update then only adds its bundle.
 */
function serverEntries(): Promise<{
	entries: ContextEntry[];
	parts: Record<string, number>;
}> {
	cachedServer ??= (async () => {
		const work = await mkdtemp(join(tmpdir(), "mdp-image-"));
		try {
			const server = await buildServer({
				out: join(work, "server"),
				runtime: { os: "linux", arch: "x64" },
			});
			return {
				entries: await folderEntries(server.path, "app"),
				parts: server.parts ?? {},
			};
		} finally {
			await rm(work, { recursive: true, force: true });
		}
	})();
	cachedServer.catch(() => {
		cachedServer = undefined;
	});
	return cachedServer;
}

/** Reads the model an image serves from its labels. */
export async function imageModel(
	engine: Engine,
	tag: string,
): Promise<{ name: string; version: string; sha256: string }> {
	const labels =
		(await engine.docker.getImage(tag).inspect()).Config.Labels ?? {};
	const name = labels[LABEL.model];
	const version = labels[LABEL.version];
	const sha256 = labels[LABEL.sha256];
	if (!name || !version || !sha256)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`image ${tag} has no ${LABEL.model}/${LABEL.version}/${LABEL.sha256} labels: build it with mdp-container build`,
		);
	return { name, version, sha256 };
}

/** A Dockerfile string: JSON quoting, and `$` escaped so the builder does not substitute variables. */
function quote(text: string): string {
	return JSON.stringify(text).replaceAll("$", "\\$");
}

/** The generated Dockerfile: layers ordered from least to most often changed, so rebuilds reuse them. */
export function dockerfile(
	base: string,
	labels: Record<string, string>,
): string {
	const labelLine = `LABEL ${Object.entries(labels)
		.map(([k, v]) => `${quote(k)}=${quote(v)}`)
		.join(" \\\n\t")}`;
	return `FROM ${base}
WORKDIR /app
COPY app/node_modules /app/node_modules
COPY healthcheck.mjs serve-slot.mjs balance.mjs app/package.json app/mdp-serve.mjs /app/
COPY app/model /app/model
ENV ORT_DISABLE_TELEMETRY=1 NODE_ENV=production MDP_PORT=${DEFAULT_IMAGE_PORT}
${labelLine}
USER ${IMAGE_UID}:${IMAGE_UID}
EXPOSE ${DEFAULT_IMAGE_PORT}
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 CMD ["node", "/app/healthcheck.mjs"]
ENTRYPOINT ["node", "/app/mdp-serve.mjs"]
CMD ["--host", "127.0.0.1", "--port", "${DEFAULT_IMAGE_PORT}"]
`;
}
