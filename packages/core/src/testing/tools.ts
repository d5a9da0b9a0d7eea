/**
 * Whether a test that needs an installed tool (haproxy, chromium, strace, unshare, a container engine)
 * should run: when the tool is there, and always in CI (`CI=true`), where a missing tool must fail the
 * test instead of skipping it: CI installs every tool, so a skip there would hide a broken install.
 *
 * @example
 * it.runIf(runsWith("haproxy", findHaproxy() !== undefined))("balances", async () => { … });
 */
export function runsWith(tool: string, available: boolean): boolean {
	if (available) return true;
	if (process.env.CI === "true") {
		process.stderr.write(
			`${tool} is not installed: with CI=true the tests that need it run and fail\n`,
		);
		return true;
	}
	return false;
}

/**
 * Where a test writes pictures and reports a person may want to look at: `MDP_TEST_ARTIFACTS` if set,
 * else a folder under the system temp dir. Never the repository: `pnpm test` leaves `git status` clean.
 */
export function testArtifactsDir(): string {
	return (
		process.env.MDP_TEST_ARTIFACTS ??
		`${process.env.TMPDIR ?? "/tmp"}/mdp-test-artifacts`
	);
}
