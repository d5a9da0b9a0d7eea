import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { referenceBundleDir } from "@mdp/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildModelImage } from "../src/build-image.ts";
import { connectEngine, type Engine, type EngineName } from "../src/engine.ts";
import { testEngine } from "./helpers.ts";

async function libpodImage(
	engine: Engine,
	tag: string,
): Promise<{ Healthcheck?: { Test?: string[] } }> {
	return new Promise((resolve, reject) => {
		engine.docker.modem.dial(
			{
				path: `/v4.0.0/libpod/images/${encodeURIComponent(tag)}/json`,
				method: "GET",
				statusCodes: { 200: true, 404: "no such image" },
				options: {},
			},
			(error: unknown, data: unknown) =>
				error
					? reject(error)
					: resolve(data as { Healthcheck?: { Test?: string[] } }),
		);
	});
}

for (const name of ["docker", "podman"] as EngineName[]) {
	const info = testEngine(name);
	describe.skipIf(info.skip)(`the model image on ${name}`, () => {
		let engine: Engine;
		let dir: string;
		beforeAll(async () => {
			engine = await connectEngine({ engine: name });
			dir = await mkdtemp(join(tmpdir(), "mdp-container-image-"));
		});
		afterAll(async () => {
			if (dir) await rm(dir, { recursive: true, force: true });
		});

		it("is at most 150 MB, runs as non-root, and carries the model's labels and a health check", async () => {
			const image = await engine.docker.getImage(info.image).inspect();
			expect(image.Size).toBeLessThanOrEqual(150 * 1e6);
			expect(image.Size).toBeGreaterThan(50 * 1e6); // Node and onnxruntime are in it
			expect(image.Config.User).toBe("10001:10001");
			expect(image.Config.Env).toContain("ORT_DISABLE_TELEMETRY=1");
			expect(image.Config.Entrypoint).toEqual(["node", "/app/mdp-serve.mjs"]);
			expect(image.Config.Labels).toMatchObject({
				"org.mdp.model.name": "penguins",
				"org.mdp.model.version": "1.0.0",
				"org.mdp.model.sha256":
					"96b478faa7b61cf8afea1c6ec6ee05830a41e2c2f14c7ac4f0242eee29a7bf01",
				"org.opencontainers.image.version": "1.0.0",
				"org.mdp.test-note": 'costs "$0"',
			});
			// Podman's Docker-compatible image inspect (4.3) leaves the health check out; its own API shows it.
			const healthcheck =
				name === "podman"
					? (await libpodImage(engine, info.image)).Healthcheck?.Test
					: image.Config.Healthcheck?.Test;
			expect(healthcheck).toEqual(["CMD", "node", "/app/healthcheck.mjs"]);
			const v2 = await engine.docker.getImage(info.imageV2).inspect();
			expect(v2.Config.Labels?.["org.mdp.model.version"]).toBe("1.0.1");
		});

		it("refuses a folder that is not a bundle and a base that is not there, building nothing", async () => {
			const before = (await engine.docker.listImages()).length;
			await expect(
				buildModelImage(engine, {
					bundle: dir,
					tag: `mdp-test-${info.run.runId}-x:1`,
				}),
			).rejects.toThrow(/is not a model bundle: cannot read .*mdp\.json/);
			await expect(
				buildModelImage(engine, {
					bundle: referenceBundleDir,
					base: `mdp-no-such-base-${info.run.runId}:1`,
					tag: `mdp-test-${info.run.runId}-y:1`,
				}),
			).rejects.toThrow(
				/base image mdp-no-such-base-.* is not on the .* engine and nothing is pulled here/,
			);
			expect((await engine.docker.listImages()).length).toBe(before);
		});
	});
}
