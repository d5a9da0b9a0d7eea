// Once per test run: a run id, a second version of the reference bundle, and on each reachable engine the
// offline base (when missing) and the images of both versions. Teardown removes every container and image
// carrying the run's label, the base when this run built it, and the temp dir, also after failures.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBundle, referenceBundleDir, writeBundle } from "@mdp/core";
import type { TestProject } from "vitest/node";
import { ensureBaseImage } from "../src/base-image.ts";
import { buildModelImage } from "../src/build-image.ts";
import { connectEngine, type Engine, type EngineName } from "../src/engine.ts";
import { RUN_LABEL, type TestEngineInfo } from "./helpers.ts";

let cleanup: (() => Promise<void>) | undefined;

export async function setup(project: TestProject) {
	const runId = `t${Date.now().toString(36)}${process.pid.toString(36)}`;
	const dir = await mkdtemp(join(tmpdir(), "mdp-container-test-"));
	const v2 = join(dir, "penguins-v2");
	// The same model as version 1.0.1, written by core (manifest digest and bundle digest recomputed).
	const { manifest, modelBytes } = await loadBundle(referenceBundleDir);
	await writeBundle(v2, {
		manifest: { ...manifest, version: "1.0.1" },
		modelBytes,
		extraFiles: {
			"golden.jsonl": await readFile(
				join(referenceBundleDir, "golden.jsonl"),
				"utf8",
			),
		},
	});
	// A label with quotes and a `$`: the image test checks it arrives as written.
	const labels = { [RUN_LABEL]: runId, "org.mdp.test-note": 'costs "$0"' };
	const repository = `mdp-test-${runId}`;
	const engines: Partial<Record<EngineName, TestEngineInfo>> = {};
	const connected: { engine: Engine; baseTag?: string }[] = [];
	const teardown = async () => {
		for (const { engine, baseTag } of connected) {
			const filters = { label: [`${RUN_LABEL}=${runId}`] };
			for (const c of await engine.docker.listContainers({
				all: true,
				filters,
			}))
				await engine.docker
					.getContainer(c.Id)
					.remove({ force: true })
					.catch(() => {});
			for (const image of await engine.docker.listImages({ filters }))
				await engine.docker
					.getImage(image.Id)
					.remove({ force: true })
					.catch(() => {});
			if (baseTag)
				await engine.docker
					.getImage(baseTag)
					.remove({ force: true })
					.catch(() => {});
		}
		await rm(dir, { recursive: true, force: true });
	};
	try {
		for (const name of ["docker", "podman"] as const) {
			let engine: Engine;
			try {
				engine = await connectEngine({ engine: name });
			} catch {
				engines[name] = { available: false, image: "", imageV2: "" };
				continue;
			}
			const entry: { engine: Engine; baseTag?: string } = { engine };
			connected.push(entry);
			const base = await ensureBaseImage(engine);
			if (base.built) entry.baseTag = base.tag;
			const v1 = await buildModelImage(engine, {
				bundle: referenceBundleDir,
				repository,
				labels,
			});
			const built2 = await buildModelImage(engine, {
				bundle: v2,
				repository,
				labels,
			});
			engines[name] = {
				available: true,
				image: v1.tag,
				imageV2: built2.tag,
				imageBytes: v1.bytes,
				baseBuilt: base.built,
			};
		}
	} catch (error) {
		await teardown();
		throw error;
	}
	project.provide("mdp", {
		runId,
		bundleV2: v2,
		logDir: join(dir, "logs"),
		repository,
		engines,
	});
	cleanup = teardown;
}

export async function teardown() {
	await cleanup?.();
}
