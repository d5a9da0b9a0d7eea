/**
 * @module @mdp/bench
 * The benchmark harness. Not implemented yet: see bench/README.md and the open issue.
 */

/** The harness's status until its issue lands. */
export const status = "not implemented yet" as const;
