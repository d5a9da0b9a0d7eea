import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname } from "node:path";
import { PassThrough } from "node:stream";
import type Docker from "dockerode";

/** One line a container wrote, as the collector stores it (one JSON object per line of the log file). */
export interface LogEntry {
	/** When the engine received the line (ISO 8601). */
	time: string;
	/** Container id (12 hex digits). */
	container: string;
	/** Container name. */
	name: string;
	stream: "stdout" | "stderr";
	line: string;
}

/**
 * Follows the stdout and stderr of containers through the engine API and merges them into one JSON-lines
 * file, tagged with the container's id and name. The file outlives the containers: that is its point
 * (containers are transient, their logs go with them). A container that restarts is followed again from
 * the last line seen.
 *
 * @example
 * const logs = new LogCollector("/var/log/mdp/penguins.jsonl");
 * logs.follow(engine.docker.getContainer(id), "mdp-abc-1");
 * await logs.close();
 */
export class LogCollector {
	readonly file: string;
	private readonly out: WriteStream;
	private readonly followed = new Map<
		string,
		{ stop: () => void; flush: () => Promise<void> }
	>();
	private readonly listeners: ((entry: LogEntry) => void)[] = [];
	private closed = false;

	constructor(file: string, onEntry?: (entry: LogEntry) => void) {
		this.file = file;
		mkdirSync(dirname(file), { recursive: true });
		this.out = createWriteStream(file, { flags: "a" });
		if (onEntry) this.listeners.push(onEntry);
	}

	/** Adds a listener for every entry from now on. */
	onEntry(listener: (entry: LogEntry) => void): void {
		this.listeners.push(listener);
	}

	/** Follows one container until it is removed (or {@link unfollow}/{@link close}). */
	follow(container: Docker.Container, name: string): void {
		if (this.closed || this.followed.has(container.id)) return;
		const id = container.id.slice(0, 12);
		// Lines emitted so far per stream: a re-read of the log from the start skips that many, so a
		// re-follow (after a restart) or the final flush adds only what is new, whatever the engine's
		// timestamp resolution (Podman's is one second).
		const seen = { stdout: 0, stderr: 0 };
		let generation = 0;
		let stopped = false;
		let current: NodeJS.ReadableStream | undefined;
		const emit = (stream: "stdout" | "stderr", raw: string) => {
			// With timestamps on, each line starts with the engine's RFC 3339 time and a space.
			const space = raw.indexOf(" ");
			const stamped =
				space > 0 && !Number.isNaN(Date.parse(raw.slice(0, space)));
			const entry: LogEntry = {
				time: stamped ? raw.slice(0, space) : new Date().toISOString(),
				container: id,
				name,
				stream,
				line: stamped ? raw.slice(space + 1) : raw,
			};
			seen[stream]++;
			if (!this.closed) this.out.write(`${JSON.stringify(entry)}\n`);
			for (const listener of this.listeners) listener(entry);
		};
		/** A reader of the log from its start that passes on only the lines beyond `seen`. */
		const reader = (mine: number) => {
			const index = { stdout: 0, stderr: 0 };
			return (stream: "stdout" | "stderr", raw: string) => {
				if (mine !== generation) return; // a stream that was replaced
				if (index[stream]++ < seen[stream]) return;
				emit(stream, raw);
			};
		};
		const stopStream = () => {
			generation++;
			(current as { destroy?: () => void } | undefined)?.destroy?.();
			current = undefined;
		};
		const attach = async (): Promise<void> => {
			const mine = ++generation;
			const onLine = reader(mine);
			const stream = (await container.logs({
				follow: true,
				stdout: true,
				stderr: true,
				timestamps: true,
			})) as unknown as NodeJS.ReadableStream;
			current = stream;
			const stdout = lineSplitter((line) => onLine("stdout", line));
			const stderr = lineSplitter((line) => onLine("stderr", line));
			container.modem.demuxStream(stream, stdout, stderr);
			await new Promise<void>((resolve) => {
				stream.once("end", resolve);
				stream.once("close", resolve);
				stream.once("error", () => resolve());
			});
			stdout.end();
			stderr.end();
		};
		const flush = async (): Promise<void> => {
			stopped = true;
			stopStream();
			const onLine = reader(generation);
			try {
				const buffer = (await container.logs({
					follow: false,
					stdout: true,
					stderr: true,
					timestamps: true,
				})) as unknown as Buffer;
				const text = demultiplex(buffer);
				for (const stream of ["stdout", "stderr"] as const)
					for (const line of text[stream].split("\n"))
						if (line) onLine(stream, line.replace(/\r$/, ""));
			} catch {
				// already removed: what was followed is what there is
			}
		};
		this.followed.set(container.id, {
			stop: () => {
				stopped = true;
				stopStream();
			},
			flush,
		});
		void (async () => {
			// The stream ends when the container stops; follow again while it runs (restarted by its policy).
			for (
				let attempt = 0;
				!stopped && !this.closed && attempt < 100;
				attempt++
			) {
				try {
					await attach();
				} catch {
					break; // removed
				}
				if (stopped || this.closed) break;
				await new Promise((r) => setTimeout(r, 500));
				try {
					const info = await container.inspect();
					if (!info.State.Running && !info.State.Restarting) break;
				} catch {
					break;
				}
			}
		})();
	}

	/**
	 * Reads what a stopped container wrote that the live stream has not delivered yet (engines may end a
	 * follow before the last lines), then stops following it. Call it before removing the container.
	 */
	async flush(containerId: string): Promise<void> {
		const handle = this.followed.get(containerId);
		this.followed.delete(containerId);
		await handle?.flush();
	}

	/** Stops following a container (lines it already wrote are kept). */
	unfollow(containerId: string): void {
		this.followed.get(containerId)?.stop();
		this.followed.delete(containerId);
	}

	/** Stops following every container and closes the file. */
	async close(): Promise<void> {
		if (this.closed) return;
		// Give the streams of containers that just stopped a moment to deliver their last lines.
		await new Promise((r) => setTimeout(r, 200));
		this.closed = true;
		for (const handle of this.followed.values()) handle.stop();
		this.followed.clear();
		await new Promise<void>((resolve) => this.out.end(() => resolve()));
	}
}

/** Splits a multiplexed (non-TTY) log buffer into its stdout and stderr text. */
function demultiplex(buffer: Buffer): { stdout: string; stderr: string } {
	const out = { stdout: "", stderr: "" };
	for (let i = 0; i + 8 <= buffer.length; ) {
		const size = buffer.readUInt32BE(i + 4);
		const chunk = buffer.subarray(i + 8, i + 8 + size).toString("utf8");
		if (buffer[i] === 2) out.stderr += chunk;
		else out.stdout += chunk;
		i += 8 + size;
	}
	return out;
}

function lineSplitter(onLine: (line: string) => void): PassThrough {
	const through = new PassThrough();
	let buffer = "";
	through.setEncoding("utf8");
	through.on("data", (chunk: string) => {
		buffer += chunk;
		let nl = buffer.indexOf("\n");
		while (nl >= 0) {
			onLine(buffer.slice(0, nl).replace(/\r$/, ""));
			buffer = buffer.slice(nl + 1);
			nl = buffer.indexOf("\n");
		}
	});
	through.on("end", () => {
		if (buffer) onLine(buffer);
		buffer = "";
	});
	return through;
}
