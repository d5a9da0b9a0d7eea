import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CoreError, referenceBundleDir, runCli, stopSignal } from "@mdp/core";
import { callControl, DEFAULT_STATE_FILE, serveControl } from "./control.ts";
import { type FleetStatus, start } from "./fleet.ts";
import { parseInstanceSize } from "./instance-size.ts";

const USAGE = `mdp-vm: the VM pattern, a fleet of process-isolated instances (no hypervisor) behind a load balancer

Usage:
  mdp-vm up     [--bundle DIR] [--replicas N] [--min A --max B [--target-in-flight N]]
                [--lb embedded|haproxy] [--instance-size 1cpu-512mb] [--port P] [--log FILE] [--state FILE]
                [--artifact DIR (a server built by buildServer, used as is)]
                starts the fleet, prints its endpoint, logs (JSON lines) on stdout and to --log, a live
                status line on stderr; Ctrl-C / SIGTERM drains and stops everything
  mdp-vm update --bundle NEWDIR [--state FILE]   rolling model update of the running fleet
  mdp-vm update --rollback [--state FILE]        back to the bundle served before the last update
  mdp-vm render --bundle DIR --out DIR --target gce|aws [--replicas N] [--min A --max B] [--instance-size S]
                writes cloud-init, a systemd unit, an HAProxy config and Terraform JSON for real VMs

--bundle defaults to the reference model; --state to ${DEFAULT_STATE_FILE}.
Exit codes: 0 done, 1 refused or failed (the reason is printed), 2 bad usage.`;

function integer(text: string | undefined, flag: string): number | undefined {
	if (text === undefined) return undefined;
	const n = Number(text);
	if (!Number.isSafeInteger(n) || n < 0)
		throw new CoreError(
			"INVALID_ARGUMENT",
			`${flag} must be a non-negative integer, got "${text}"`,
		);
	return n;
}

const formatStatus = (s: FleetStatus) =>
	`instances ${s.ready}/${s.instances} ready · in flight ${s.inFlight} · ${s.requestsPerSecond.toFixed(0)} req/s · replaced ${s.replacements} · ${s.model.name} ${s.model.version} (${s.model.sha256.slice(0, 12)})`;

async function main(argv: string[]): Promise<number> {
	const [command, ...rest] = argv;
	const { values } = parseArgs({
		args: rest,
		options: {
			bundle: { type: "string" },
			replicas: { type: "string" },
			min: { type: "string" },
			max: { type: "string" },
			"target-in-flight": { type: "string" },
			lb: { type: "string", default: "embedded" },
			"instance-size": { type: "string" },
			artifact: { type: "string" },
			port: { type: "string", default: "0" },
			log: { type: "string" },
			state: { type: "string", default: DEFAULT_STATE_FILE },
			rollback: { type: "boolean" },
			out: { type: "string" },
			target: { type: "string" },
			help: { type: "boolean", short: "h" },
		},
	});
	if (values.help || command === undefined || command === "help") {
		console.log(USAGE);
		return command === undefined ? 2 : 0;
	}
	if (values.lb !== "embedded" && values.lb !== "haproxy")
		throw new CoreError(
			"INVALID_ARGUMENT",
			`--lb must be embedded or haproxy, got "${values.lb}"`,
		);
	const min = integer(values.min, "--min");
	const max = integer(values.max, "--max");
	if ((min === undefined) !== (max === undefined))
		throw new CoreError(
			"INVALID_ARGUMENT",
			"--min and --max go together (autoscaling bounds)",
		);
	if (min !== undefined && max !== undefined && (max < min || max < 1))
		throw new CoreError(
			"INVALID_ARGUMENT",
			`--max (${max}) must be at least --min (${min}) and 1`,
		);
	const replicas = integer(values.replicas, "--replicas");
	const instanceSize = values["instance-size"];
	if (instanceSize !== undefined) parseInstanceSize(instanceSize);
	const targetInFlight = integer(
		values["target-in-flight"],
		"--target-in-flight",
	);

	switch (command) {
		case "up": {
			const stopping = stopSignal();
			const bundle = resolve(values.bundle ?? referenceBundleDir);
			const stateFile = resolve(values.state);
			const log = resolve(values.log ?? join(dirname(stateFile), "fleet.log"));
			const writeLine = (line: string) => process.stdout.write(`${line}\n`);
			const fleet = await start({
				bundle,
				replicas: replicas ?? min ?? 2,
				lb: values.lb,
				port: integer(values.port, "--port"),
				instanceSize,
				autoscale:
					min !== undefined && max !== undefined
						? { min, max, targetInFlight }
						: undefined,
				logFile: log,
				artifact: values.artifact ? resolve(values.artifact) : undefined,
				onLog: (entry) => writeLine(JSON.stringify(entry)),
			});
			const control = await serveControl(fleet, stateFile, { log });
			process.stderr.write(
				`mdp-vm: ${fleet.units().filter((u) => u.role === "instance").length} process-isolated instances (no hypervisor) behind the ${values.lb} balancer\n` +
					`mdp-vm: endpoint ${fleet.url} · logs ${log} · state ${stateFile} · ${fleet.cgroups}\n`,
			);
			writeLine(
				JSON.stringify({
					event: "endpoint",
					url: fleet.url,
					state: stateFile,
					log,
				}),
			);
			const tty = process.stderr.isTTY;
			let ticks = 0;
			const timer = setInterval(async () => {
				const line = formatStatus(await fleet.status());
				if (tty) process.stderr.write(`\r\x1b[K${line}`);
				else if (ticks++ % 5 === 0) process.stderr.write(`${line}\n`);
			}, 1000);
			await stopping;
			clearInterval(timer);
			process.stderr.write(
				`${tty ? "\n" : ""}mdp-vm: draining and stopping…\n`,
			);
			await control.close();
			await fleet.stop();
			process.stderr.write("mdp-vm: stopped\n");
			return 0;
		}
		case "update": {
			if (Boolean(values.rollback) === (values.bundle !== undefined))
				throw new CoreError(
					"INVALID_ARGUMENT",
					"update takes either --bundle NEWDIR or --rollback",
				);
			const update = values.rollback
				? await callControl(resolve(values.state), "/rollback", {})
				: await callControl(resolve(values.state), "/update", {
						bundle: resolve(values.bundle as string),
					});
			console.log(JSON.stringify(update));
			return 0;
		}
		case "render": {
			if (!values.out || (values.target !== "gce" && values.target !== "aws"))
				throw new CoreError(
					"INVALID_ARGUMENT",
					"render needs --out DIR and --target gce|aws",
				);
			const { renderCloud } = await import("./render.ts");
			const files = await renderCloud({
				bundle: resolve(values.bundle ?? referenceBundleDir),
				out: resolve(values.out),
				target: values.target,
				replicas: replicas ?? min ?? 2,
				min: min ?? replicas ?? 2,
				max: max ?? Math.max(replicas ?? 2, min ?? 2),
				targetInFlight,
				instanceSize: instanceSize ?? "1cpu-512mb",
			});
			for (const file of files) console.log(file);
			return 0;
		}
		default:
			throw new CoreError(
				"INVALID_ARGUMENT",
				`unknown command "${command}" (up, update, render)`,
			);
	}
}

runCli("mdp-vm", () => main(process.argv.slice(2)));
