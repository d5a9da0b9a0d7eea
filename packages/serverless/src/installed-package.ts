import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { CoreError } from "@mdp/core";

const require = createRequire(import.meta.url);

/**
 * The folder and version of a dependency installed beside this package (its real path, through pnpm's
 * links), found from its main module even when its `exports` hide `package.json`.
 *
 * @example
 * installedPackage("aws-lambda-ric"); // { dir: ".../aws-lambda-ric", version: "4.0.2" }
 */
export function installedPackage(name: string): {
	dir: string;
	version: string;
} {
	let main: string;
	try {
		main = require.resolve(name);
	} catch (error) {
		throw new CoreError(
			"NOT_FOUND",
			`${name} is not installed beside @mdp/serverless`,
			{ cause: error },
		);
	}
	for (let dir = dirname(main); dir !== dirname(dir); dir = dirname(dir)) {
		const manifest = join(dir, "package.json");
		if (!existsSync(manifest)) continue;
		const parsed = JSON.parse(readFileSync(manifest, "utf8")) as {
			name?: string;
			version: string;
		};
		if (parsed.name === name) return { dir, version: parsed.version };
	}
	throw new CoreError("NOT_FOUND", `no package.json of ${name} above ${main}`);
}
