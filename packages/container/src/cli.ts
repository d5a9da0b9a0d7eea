import { status } from "./index.ts";

console.error(`mdp-container: ${status} (see packages/container/README.md)`);
process.exitCode = 2;
