#!/usr/bin/env node
// Workspace packages ship TypeScript source (STYLE.md #2): run the CLI through tsx.
import { register } from "tsx/esm/api";

register();
await import("../src/cli.ts");
