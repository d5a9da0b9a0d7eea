import { status } from "./index.ts";

console.error(`mdp-static: ${status} (see packages/static/README.md)`);
process.exitCode = 2;
