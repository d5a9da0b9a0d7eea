import { status } from "./index.ts";

console.error(`mdp-bench: ${status} (see bench/README.md)`);
process.exitCode = 2;
