/**
 * @module @mdp/vm
 * The vm deployment pattern. Not implemented yet: see the package README and the open issue.
 */

/** The package's status until its issue lands. */
export const status = "not implemented yet" as const;
