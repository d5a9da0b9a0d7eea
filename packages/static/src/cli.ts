import { parseArgs } from "node:util";
import { CoreError, referenceBundleDir, runCli } from "@mdp/core";
import { buildExecutable, buildModule, buildWebPage } from "./index.ts";

const USAGE = `mdp-static: the model inside the application

Usage:
  mdp-static build  --bundle DIR --out FILE   a single Linux executable (JSON lines in, predictions out)
  mdp-static module --bundle DIR --out FILE   a self-contained ES module (needs onnxruntime-node at run time)
  mdp-static web    --bundle DIR --out DIR    a static page that predicts in the browser (onnxruntime-web)

--bundle defaults to the reference penguins bundle. Exit codes: 0 built, 1 failed, 2 bad usage.`;

async function main(argv: string[]): Promise<number> {
	const [command, ...rest] = argv;
	const { values } = parseArgs({
		args: rest,
		options: {
			bundle: { type: "string", default: referenceBundleDir },
			out: { type: "string" },
			"no-strip": { type: "boolean" },
			help: { type: "boolean", short: "h" },
		},
	});
	if (
		command === undefined ||
		command === "help" ||
		command === "--help" ||
		command === "-h" ||
		values.help
	) {
		console.log(USAGE);
		return command === undefined ? 2 : 0;
	}
	if (!values.out) throw usage(`${command} needs --out`);
	const onProgress = (step: string) =>
		console.error(`mdp-static ${command}: ${step}`);
	const started = performance.now();
	let artifact: { path: string; bytes: number; parts?: Record<string, number> };
	switch (command) {
		case "build":
			artifact = await buildExecutable({
				bundle: values.bundle,
				out: values.out,
				strip: values["no-strip"] ? false : undefined,
				onProgress,
			});
			break;
		case "module":
			artifact = await buildModule({ bundle: values.bundle, out: values.out });
			break;
		case "web":
			artifact = await buildWebPage({
				bundle: values.bundle,
				out: values.out,
				onProgress,
			});
			break;
		default:
			throw usage(`unknown command "${command}"`);
	}
	const parts = Object.entries(artifact.parts ?? {})
		.map(([name, bytes]) => `${name} ${mb(bytes)}`)
		.join(", ");
	console.error(
		`mdp-static ${command}: ${artifact.path}: ${mb(artifact.bytes)}${parts ? ` (${parts})` : ""} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
	);
	console.log(JSON.stringify(artifact));
	return 0;
}

function mb(bytes: number): string {
	return bytes >= 1e6
		? `${(bytes / 1e6).toFixed(1)} MB`
		: `${(bytes / 1e3).toFixed(1)} KB`;
}

runCli("mdp-static", () => main(process.argv.slice(2)));

function usage(message: string): CoreError {
	return new CoreError("INVALID_ARGUMENT", message);
}
