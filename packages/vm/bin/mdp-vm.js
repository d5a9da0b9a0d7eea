#!/usr/bin/env node
// In the workspace the TypeScript sources run through tsx (CONTRIBUTING.md, "Conventions"); the published
// package has no sources and runs its build in dist/.
import { existsSync } from "node:fs";

const source = new URL("../src/cli.ts", import.meta.url);
if (existsSync(source)) {
	const { register } = await import("tsx/esm/api");
	register();
	await import(source.href);
} else {
	await import("../dist/cli.js");
}
