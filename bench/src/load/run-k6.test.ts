import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { childCpuSeconds, lowerK6Script } from "./run-k6.ts";

describe("lowerK6Script", () => {
	it("writes ES2017 JavaScript any k6 can run: no TypeScript, no ??, k6 modules still imported", async () => {
		const dir = await mkdtemp(join(tmpdir(), "mdp-k6-lower-"));
		try {
			const js = await readFile(
				await lowerK6Script(join(dir, "scenario.js")),
				"utf8",
			);
			expect(js).not.toMatch(/\?\?|\?\.|\binterface\b|: HarnessScenario/);
			expect(js).toMatch(/from ["']k6\/http["']/);
			expect(js).toMatch(/from ["']k6["']/);
			expect(js).toMatch(/export default function|export \{[^}]*default/);
			expect(js).toMatch(/options/);
		} finally {
			await rm(dir, { recursive: true, force: true });
		}
	});
});

describe("childCpuSeconds", () => {
	it("reads the children's user and system time from bash's times", () => {
		expect(
			childCpuSeconds("k6 said things\n0m0.004s 0m0.002s\n1m2.500s 0m0.750s\n"),
		).toBe(63.25);
		expect(childCpuSeconds("no times here")).toBeNaN();
	});
});
