// The runtime entry of the deployable server (`bundleServer` bundles it into `mdp-serve.mjs`): only the
// serving code, none of the CLI's training, synthesis or ONNX-writing paths. The model it serves by
// default is the `model` folder beside the bundle (or MDP_BUNDLE), so the built server works wherever it
// is copied.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { serve } from "./cli-serve.ts";
import { CoreError } from "./errors.ts";
import { runCli } from "./run-cli.ts";
import { parseServeArgs, SERVE_USAGE } from "./serve-args.ts";

const argv = process.argv.slice(2);
if (argv.includes("--help") || argv.includes("-h")) {
	console.log(
		`mdp-serve ${SERVE_USAGE}\n--bundle defaults to $MDP_BUNDLE, else ./model beside this file.`,
	);
} else {
	runCli("mdp-serve", async () => {
		const beside = fileURLToPath(new URL("./model", import.meta.url));
		const bundle = process.env.MDP_BUNDLE ?? beside;
		if (
			!argv.includes("--bundle") &&
			!argv.includes("--bare") &&
			!existsSync(bundle)
		) {
			throw new CoreError(
				"NOT_FOUND",
				`no model to serve: pass --bundle DIR, set MDP_BUNDLE, or put the bundle in ${beside}`,
			);
		}
		return serve(parseServeArgs(argv, bundle));
	});
}
