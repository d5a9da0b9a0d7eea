import { describe, expect, it } from "vitest";
import { dockerfile } from "./build-image.ts";

describe("dockerfile", () => {
	const text = dockerfile("mdp-node-base:20", {
		"org.mdp.model.name": "penguins",
		"org.opencontainers.image.description": 'a "quoted" text with $HOME',
	});

	it("runs as a non-root user with a health check on the ready endpoint and telemetry off", () => {
		expect(text).toMatch(/^FROM mdp-node-base:20$/m);
		expect(text).toMatch(/^USER 10001:10001$/m);
		expect(text).toMatch(
			/^HEALTHCHECK .* CMD \["node", "\/app\/healthcheck\.mjs"\]$/m,
		);
		expect(text).toMatch(/^ENV ORT_DISABLE_TELEMETRY=1 /m);
		expect(text).toMatch(/^ENTRYPOINT \["node", "\/app\/mdp-serve\.mjs"\]$/m);
	});

	it("writes labels quoted, with $ escaped, so they reach the image as written", () => {
		expect(text).toContain(
			'"org.opencontainers.image.description"="a \\"quoted\\" text with \\$HOME"',
		);
	});

	it("copies the runtime before the model, so a new model reuses the runtime's layers", () => {
		const runtime = text.indexOf("COPY app/node_modules");
		const model = text.indexOf("COPY app/model");
		expect(runtime).toBeGreaterThan(0);
		expect(model).toBeGreaterThan(runtime);
	});
});
