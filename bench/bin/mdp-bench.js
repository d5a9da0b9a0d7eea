#!/usr/bin/env node
// Workspace packages ship TypeScript source (CONTRIBUTING.md, "Conventions"): run the CLI through tsx.
import { register } from "tsx/esm/api";

register();
await import("../src/cli.ts");
