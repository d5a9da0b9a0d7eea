import {
	closeSync,
	mkdirSync,
	openSync,
	readFileSync,
	readSync,
	rmdirSync,
	writeFileSync,
} from "node:fs";
import { join } from "node:path";

const ROOT = "/sys/fs/cgroup/memory";

/**
 * A cgroup v1 memory cgroup for one function instance: a hard memory limit (the kernel OOM-kills the
 * instance above it), its peak usage and its OOM kills. `create` returns undefined where cgroups v1 are
 * absent or not writable; the V8 heap flags are then the only limit.
 *
 * @example
 * const cgroup = MemoryCgroup.create("mdp-fn-1", 512 * 2 ** 20);
 * spawn(...cgroup.wrap(["node", "index.mjs"]));
 */
export class MemoryCgroup {
	readonly dir: string;
	#peak: ProcFile | undefined;

	private constructor(dir: string) {
		this.dir = dir;
	}

	/** Whether memory cgroups (v1) can be created here. */
	static available(): boolean {
		const probe = join(ROOT, `mdp-probe-${process.pid}`);
		try {
			mkdirSync(probe);
			rmdirSync(probe);
			return true;
		} catch {
			return false;
		}
	}

	static create(name: string, limitBytes: number): MemoryCgroup | undefined {
		const dir = join(ROOT, name);
		try {
			mkdirSync(dir);
		} catch {
			return undefined;
		}
		try {
			writeFileSync(join(dir, "memory.limit_in_bytes"), String(limitBytes));
			// No swap: above the limit the instance is killed, not slowed.
			try {
				writeFileSync(join(dir, "memory.swappiness"), "0");
			} catch {}
			return new MemoryCgroup(dir);
		} catch {
			try {
				rmdirSync(dir);
			} catch {}
			return undefined;
		}
	}

	/** The file a process writes its PID to, to join the cgroup. */
	get procsFile(): string {
		return join(this.dir, "cgroup.procs");
	}

	/**
	 * `command` wrapped to run inside this cgroup from its first byte: a one-threaded shell moves itself in
	 * and then execs the command, whose threads are all born inside. It writes `0` (itself) to `tasks`: a
	 * single thread moves without the system-wide lock that writing a PID to `cgroup.procs` takes, about
	 * 1 ms instead of 10–15 ms on this machine, on every cold start.
	 *
	 * @example
	 * const [program, ...args] = cgroup.wrap([process.execPath, "index.mjs"]);
	 * spawn(program, args);
	 */
	wrap(command: readonly string[]): string[] {
		return [
			"/bin/sh",
			"-c",
			'echo 0 > "$0" && exec "$@"',
			join(this.dir, "tasks"),
			...command,
		];
	}

	/** Peak memory use of the cgroup, bytes (read once per invocation: the file stays open). */
	maxUsageBytes(): number | undefined {
		this.#peak ??= new ProcFile(join(this.dir, "memory.max_usage_in_bytes"));
		const text = this.#peak.read();
		return text === undefined ? undefined : Number(text);
	}

	/** Processes the kernel killed for going over the limit. */
	oomKills(): number {
		try {
			const text = readFileSync(join(this.dir, "memory.oom_control"), "utf8");
			return Number(/oom_kill (\d+)/.exec(text)?.[1] ?? 0);
		} catch {
			return 0;
		}
	}

	/** Removes the cgroup (once its processes have exited); retries briefly while the kernel lets go. */
	async remove(): Promise<void> {
		this.#peak?.close();
		for (let attempt = 0; attempt < 20; attempt++) {
			try {
				rmdirSync(this.dir);
				return;
			} catch (error) {
				if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
				await new Promise((r) => setTimeout(r, 25));
			}
		}
	}
}

/**
 * V8 heap flags for a memory size, modelled on Lambda's Node.js bootstrap: young generation = memory/64
 * (semi-space half of it), old generation = the rest.
 *
 * @example
 * heapFlags(512); // ["--max-semi-space-size=4", "--max-old-space-size=504"]
 */
export function heapFlags(memoryMb: number): string[] {
	const newSpace = Math.max(2, Math.floor(memoryMb / 64));
	return [
		`--max-semi-space-size=${Math.max(1, Math.floor(newSpace / 2))}`,
		`--max-old-space-size=${memoryMb - newSpace}`,
	];
}

/**
 * A small kernel file (procfs, cgroupfs) kept open and read again from offset 0 on each call: the kernel
 * regenerates its content, and one `pread` costs about half of an open, read and close.
 */
class ProcFile {
	readonly #path: string;
	#fd: number | undefined;
	#closed = false;
	static readonly #buffer = Buffer.alloc(8192);

	constructor(path: string) {
		this.#path = path;
	}

	/** The file's text, or undefined when it cannot be read (its process or cgroup is gone). */
	read(): string | undefined {
		if (this.#closed) return undefined;
		try {
			this.#fd ??= openSync(this.#path, "r");
			const n = readSync(
				this.#fd,
				ProcFile.#buffer,
				0,
				ProcFile.#buffer.length,
				0,
			);
			return ProcFile.#buffer.toString("latin1", 0, n);
		} catch {
			this.close();
			return undefined;
		}
	}

	close(): void {
		this.#closed = true;
		if (this.#fd === undefined) return;
		try {
			closeSync(this.#fd);
		} catch {}
		this.#fd = undefined;
	}
}

/**
 * The peak resident set (VmHWM) of one process, read from its `/proc/<pid>/status` kept open; undefined
 * once the process is gone. `close()` when done with it.
 *
 * @example
 * const peak = new PeakRss(child.pid);
 * peak.bytes(); // e.g. 100_663_296
 * peak.close();
 */
export class PeakRss {
	readonly #file: ProcFile | undefined;

	constructor(pid: number | undefined) {
		this.#file =
			pid === undefined ? undefined : new ProcFile(`/proc/${pid}/status`);
	}

	bytes(): number | undefined {
		const kb = /VmHWM:\s+(\d+) kB/.exec(this.#file?.read() ?? "")?.[1];
		return kb === undefined ? undefined : Number(kb) * 1024;
	}

	close(): void {
		this.#file?.close();
	}
}

/**
 * Peak resident set of a process (VmHWM), bytes; undefined once it is gone.
 *
 * @example
 * peakRssBytes(child.pid); // e.g. 100_663_296
 */
export function peakRssBytes(pid: number | undefined): number | undefined {
	if (pid === undefined) return undefined;
	try {
		const kb = /VmHWM:\s+(\d+) kB/.exec(
			readFileSync(`/proc/${pid}/status`, "utf8"),
		)?.[1];
		return kb === undefined ? undefined : Number(kb) * 1024;
	} catch {
		return undefined;
	}
}
