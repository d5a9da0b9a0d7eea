import { describe, expect, it } from "vitest";
import { renderComposeHost, renderSwarmStack } from "./render.ts";
import { parseMemory } from "./start.ts";

describe("parseMemory", () => {
	it.each([
		["512m", 512 * 1024 ** 2],
		["1g", 1024 ** 3],
		["64k", 64 * 1024],
		["1000", 1000],
		["1.5G", 1.5 * 1024 ** 3],
	])("%s is %d bytes", (text, bytes) => {
		expect(parseMemory(text)).toBe(bytes);
	});
	it("refuses what is not a size", () => {
		expect(() => parseMemory("lots")).toThrow(/memory "lots" is not a size/);
		expect(() => parseMemory("5t")).toThrow(/not a size/);
	});
});

describe("host-network manifests", () => {
	it("gives every Compose replica its own port and lists them all at the balancer", () => {
		const file = renderComposeHost({
			image: "i",
			replicas: 3,
			port: 8000,
			replicaPortBase: 9000,
		}) as {
			services: Record<
				string,
				{ command?: string[]; environment: Record<string, string> }
			>;
		};
		const ports = ["model-1", "model-2", "model-3"].map((s) =>
			file.services[s]?.command?.at(-1),
		);
		expect(ports).toEqual(["9000", "9001", "9002"]);
		expect(file.services.balancer?.environment).toEqual({
			MDP_UPSTREAMS: "127.0.0.1:9000,127.0.0.1:9001,127.0.0.1:9002",
			MDP_LISTEN: "127.0.0.1:8000",
		});
	});

	it("lets the Swarm balancer see both ports of every slot (start-first updates)", () => {
		const stack = renderSwarmStack({
			image: "i",
			replicas: 2,
			replicaPortBase: 9000,
		}) as {
			services: Record<
				string,
				{
					environment: Record<string, string>;
					deploy: { update_config?: { order: string } };
				}
			>;
		};
		expect(stack.services.balancer?.environment.MDP_UPSTREAMS).toBe(
			"127.0.0.1:9000,127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003",
		);
		expect(stack.services.model?.environment.MDP_SLOT).toBe("{{.Task.Slot}}");
		expect(stack.services.model?.deploy.update_config?.order).toBe(
			"start-first",
		);
	});
});
