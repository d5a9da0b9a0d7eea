import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CoreError, sha256Hex } from "@mdp/core";
import { locateOnnxRuntime } from "@mdp/core/build";
import { type ContextEntry, packContext } from "./build-context.ts";
import {
	type Engine,
	followProgress,
	MANAGED_LABEL,
	type ProgressMessage,
} from "./engine.ts";

const run = promisify(execFile);

/** User and group id the images run as (not root). */
export const IMAGE_UID = 10001;

/** Options of {@link ensureBaseImage}. */
export interface EnsureBaseImageOptions {
	/** Tag of the base; default `mdp-node-base:<node version>-<fingerprint>`. */
	tag?: string;
	/** The Node binary to ship; default the one running this process. */
	nodeBinary?: string;
	/** Each line of build output. */
	onProgress?: (line: string) => void;
}

/** What {@link ensureBaseImage} found or built. */
export interface BaseImage {
	tag: string;
	/** Whether it was built now (false: it existed and was reused). */
	built: boolean;
	/** Image size as the engine reports it. */
	bytes: number;
	/** Files it holds with their sizes (only when built now). */
	parts: Record<string, number>;
}

/**
 * Makes sure a minimal base image with Node exists on the engine, building it offline when missing: the
 * host's Node binary (stripped of its symbols when `strip` is available: 99 → 86 MB) and the shared libraries
 * it and onnxruntime-node's binding link (found with `ldd`), an `/etc/passwd` with a non-root user and a
 * `/tmp`, on `FROM scratch`. Nothing is pulled. Reused when the tag exists (the tag carries a fingerprint
 * of the Node binary and the libraries).
 *
 * @example
 * const base = await ensureBaseImage(await connectEngine());
 * console.log(base.tag); // mdp-node-base:20.20.2-1a2b3c4d5e6f
 */
export async function ensureBaseImage(
	engine: Engine,
	options: EnsureBaseImageOptions = {},
): Promise<BaseImage> {
	const nodeBinary = options.nodeBinary ?? process.execPath;
	const libraries = await sharedLibraries(nodeBinary);
	const fingerprint = sha256Hex(
		JSON.stringify(
			await Promise.all(
				[nodeBinary, ...libraries].map(async (p) => {
					const s = await stat(p);
					return [p, s.size, s.mtimeMs];
				}),
			),
		),
	).slice(0, 12);
	const tag =
		options.tag ?? `mdp-node-base:${process.version.slice(1)}-${fingerprint}`;
	const existing = await imageBytes(engine, tag);
	if (existing !== undefined)
		return { tag, built: false, bytes: existing, parts: {} };

	const work = await mkdtemp(join(tmpdir(), "mdp-base-"));
	try {
		const parts: Record<string, number> = {};
		const node = await stripped(nodeBinary, join(work, "node"));
		parts["/usr/local/bin/node"] = node.length;
		const entries: ContextEntry[] = [
			{ name: "Dockerfile", data: Buffer.from(BASE_DOCKERFILE) },
			{ name: "rootfs" },
			{ name: "rootfs/usr" },
			{ name: "rootfs/usr/local" },
			{ name: "rootfs/usr/local/bin" },
			{ name: "rootfs/usr/local/bin/node", data: node, mode: 0o755 },
			{ name: "rootfs/etc" },
			{
				name: "rootfs/etc/passwd",
				data: Buffer.from(
					`root:x:0:0:root:/root:/sbin/nologin\nmdp:x:${IMAGE_UID}:${IMAGE_UID}:mdp:/tmp:/sbin/nologin\n`,
				),
			},
			{
				name: "rootfs/etc/group",
				data: Buffer.from(`root:x:0:\nmdp:x:${IMAGE_UID}:\n`),
			},
			{ name: "rootfs/tmp", mode: 0o1777 },
		];
		const dirs = new Set<string>();
		for (const library of libraries) {
			const segments = library.split("/").filter(Boolean);
			for (let i = 1; i < segments.length; i++) {
				const dir = `rootfs/${segments.slice(0, i).join("/")}`;
				if (!dirs.has(dir) && !entries.some((e) => e.name === dir)) {
					dirs.add(dir);
					entries.push({ name: dir });
				}
			}
			// ldd names the path the loader opens; a symlink there is shipped as the file it points to.
			const data = await readFile(library);
			parts[library] = data.length;
			entries.push({ name: `rootfs${library}`, data, mode: 0o755 });
		}
		const stream = await engine.docker.buildImage(packContext(entries), {
			t: tag,
			labels: { [MANAGED_LABEL]: "base" },
			rm: true,
			forcerm: true,
		});
		await followProgress(
			engine.docker,
			stream,
			progressLines(options.onProgress),
		);
		const bytes = await imageBytes(engine, tag);
		if (bytes === undefined)
			throw new CoreError(
				"UNAVAILABLE",
				`the engine built no image tagged ${tag}`,
			);
		return { tag, built: true, bytes, parts };
	} finally {
		await rm(work, { recursive: true, force: true });
	}
}

const BASE_DOCKERFILE = `FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin
`;

/** Size of a local image, or undefined when there is none with that tag. */
export async function imageBytes(
	engine: Engine,
	tag: string,
): Promise<number | undefined> {
	try {
		const info = await engine.docker.getImage(tag).inspect();
		return info.Size;
	} catch (error) {
		if ((error as { statusCode?: number }).statusCode === 404) return undefined;
		throw error;
	}
}

/** Turns build progress messages into lines for `onProgress`. */
export function progressLines(
	onProgress: ((line: string) => void) | undefined,
): (message: ProgressMessage) => void {
	return (message) => {
		const text = message.stream ?? message.status;
		if (!onProgress || !text) return;
		for (const line of text.split("\n")) if (line.trim()) onProgress(line);
	};
}

/** Absolute paths of the shared libraries `nodeBinary` and onnxruntime-node's binding load. */
async function sharedLibraries(nodeBinary: string): Promise<string[]> {
	const ort = await locateOnnxRuntime({ os: "linux", arch: "x64" });
	const found = new Set<string>();
	for (const file of [
		nodeBinary,
		...ort.nativeFiles
			.filter((f) => f.endsWith(".node") || f.includes(".so"))
			.map((f) => join(ort.nativeDir, f)),
	]) {
		let out: string;
		try {
			out = (await run("ldd", [file])).stdout;
		} catch (error) {
			throw new CoreError(
				"UNAVAILABLE",
				`cannot list the shared libraries of ${file} with ldd (${(error as Error).message}); pass --base IMAGE with Node 20+ instead`,
				{ cause: error },
			);
		}
		for (const line of out.split("\n")) {
			const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
			const path = match?.[1];
			if (path && !path.startsWith(ort.nativeDir)) found.add(path);
		}
	}
	return [...found].sort();
}

/** The binary without symbols (`strip`), or as it is when `strip` is missing or fails. */
async function stripped(binary: string, scratch: string): Promise<Buffer> {
	try {
		await run("strip", ["--strip-all", "-o", scratch, binary]);
		return await readFile(scratch);
	} catch {
		return readFile(binary);
	}
}
