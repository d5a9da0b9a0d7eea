import { status } from "./index.ts";

console.error(`mdp-serverless: ${status} (see packages/serverless/README.md)`);
process.exitCode = 2;
