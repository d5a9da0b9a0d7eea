import { status } from "./index.ts";

console.error(`mdp-vm: ${status} (see packages/vm/README.md)`);
process.exitCode = 2;
