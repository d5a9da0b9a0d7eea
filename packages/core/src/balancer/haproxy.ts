import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreError } from "../errors.ts";
import { checkHealth } from "./health-check.ts";
import type {
	Balancer,
	HealthCheckOptions,
	Upstream,
	UpstreamState,
} from "./types.ts";

/** Options of {@link toHaproxyConfig}. */
export interface HaproxyConfigOptions {
	port: number;
	hostname?: string;
	upstreams: readonly Upstream[];
	healthCheck?: HealthCheckOptions;
	/** Unix socket of the runtime API (drain, add, remove at run time). */
	statsSocket?: string;
	/** Threads; 1 keeps HAProxy on the same core budget as the embedded balancer. */
	threads?: number;
	retries?: number;
}

const BACKEND = "models";
const SERVER_ID = /^[A-Za-z0-9_.-]+$/;

/**
 * The HAProxy configuration equivalent to the embedded balancer: `mode http` (each request balanced,
 * keep-alive on both sides), least-connections, active HTTP checks on the OIP ready endpoint, retry on
 * another server when a connection fails or a server closes without answering.
 */
export function toHaproxyConfig(options: HaproxyConfigOptions): string {
	const path = options.healthCheck?.path ?? "/v2/health/ready";
	const timeout = options.healthCheck?.timeoutMs ?? 500;
	const lines = [
		"global",
		`  nbthread ${options.threads ?? 1}`,
		"  maxconn 8000",
		...(options.statsSocket
			? [`  stats socket ${options.statsSocket} mode 600 level admin`]
			: []),
		"",
		"defaults",
		"  mode http",
		"  option http-keep-alive",
		// Wait for the request body (up to one buffer, 16 KiB) before picking a server: a server that answers
		// early (413) then gets the whole request, and HAProxy 2.6 cannot drain an upload it answered
		// before its end (it resets the client instead; fixed in 3.0).
		"  option http-buffer-request",
		"  option redispatch",
		`  retries ${options.retries ?? 2}`,
		"  retry-on conn-failure empty-response",
		"  timeout connect 1s",
		"  timeout client 65s",
		"  timeout server 60s",
		`  timeout check ${timeout}ms`,
		"",
		"frontend mdp",
		`  bind ${options.hostname ?? "127.0.0.1"}:${options.port}`,
		`  default_backend ${BACKEND}`,
		"",
		`backend ${BACKEND}`,
		"  balance leastconn",
		`  option httpchk GET ${path}`,
		"  http-check expect status 200",
		`  default-server ${checkSettings(options.healthCheck)}`,
		...options.upstreams.map(
			(u) => `  server ${serverId(u.id)} ${u.host}:${u.port} check`,
		),
	];
	return `${lines.join("\n")}\n`;
}

/**
 * A server's check timing. Written on every server added at run time too: HAProxy 2.6 does not apply
 * `default-server` to servers created with `add server`, which would otherwise check every 2 s. After a
 * first failed check the next one comes sooner (`fastinter`), so a hung server leaves the pool in about
 * `fall` check timeouts rather than `fall` intervals.
 */
function checkSettings(healthCheck: HealthCheckOptions | undefined): string {
	const inter = healthCheck?.intervalMs ?? 1000;
	return `inter ${inter}ms fastinter ${Math.max(50, Math.round(inter / 5))}ms fall ${healthCheck?.fall ?? 2} rise ${healthCheck?.rise ?? 1}`;
}

function serverId(id: string): string {
	if (!SERVER_ID.test(id))
		throw new CoreError(
			"INVALID_ARGUMENT",
			`"${id}" cannot name an HAProxy server (letters, digits, _ . -)`,
		);
	return id;
}

/** The HAProxy binary on PATH (or `HAPROXY_BIN`), if installed. */
export function findHaproxy(): string | undefined {
	const bin = process.env.HAPROXY_BIN ?? "haproxy";
	const probe = spawnSync(bin, ["-v"], { encoding: "utf8" });
	return probe.status === 0 ? bin : undefined;
}

/** Options of {@link startHaproxyBalancer}. */
export interface HaproxyBalancerOptions {
	port: number;
	hostname?: string;
	upstreams?: Upstream[];
	healthCheck?: HealthCheckOptions;
	/** Prefix the command, for example `["taskset", "-c", "0"]`. */
	wrapper?: string[];
}

/**
 * Runs a real HAProxy in front of upstreams, driven through its runtime API (`add server`, `set server …
 * state drain`, `del server`), behind the same {@link Balancer} interface as the embedded balancer.
 * Throws when HAProxy is not installed.
 */
export async function startHaproxyBalancer(
	options: HaproxyBalancerOptions,
): Promise<Balancer> {
	const bin = findHaproxy();
	if (!bin)
		throw new CoreError(
			"UNAVAILABLE",
			"haproxy is not installed (apt-get install haproxy, or set HAPROXY_BIN)",
		);
	const dir = await mkdtemp(join(tmpdir(), "mdp-haproxy-"));
	const statsSocket = join(dir, "admin.sock");
	const configPath = join(dir, "haproxy.cfg");
	const hostname = options.hostname ?? "127.0.0.1";
	const known = new Map<string, Upstream>();
	for (const u of options.upstreams ?? []) known.set(u.id, u);
	await writeFile(
		configPath,
		toHaproxyConfig({
			...options,
			hostname,
			upstreams: [...known.values()],
			statsSocket,
		}),
	);
	const command = [...(options.wrapper ?? []), bin, "-db", "-f", configPath];
	const child: ChildProcess = spawn(command[0] as string, command.slice(1), {
		stdio: ["ignore", "ignore", "pipe"],
	});
	let stderr = "";
	child.stderr?.on("data", (chunk: Buffer) => {
		stderr = (stderr + chunk.toString()).slice(-4000);
	});
	const exited = new Promise<void>((resolve) =>
		child.once("exit", () => resolve()),
	);

	const runtime = (command: string) =>
		new Promise<string>((resolve, reject) => {
			const socket = connect(statsSocket);
			let out = "";
			socket.on("data", (chunk) => {
				out += chunk.toString();
			});
			socket.once("error", reject);
			socket.once("end", () => resolve(out.trim()));
			socket.end(`${command}\n`);
		});

	// Ready when the runtime API answers.
	const deadline = performance.now() + 10_000;
	// A start that fails leaves no process and no temp dir behind.
	const giveUp = async (why: string): Promise<never> => {
		if (child.exitCode === null) child.kill("SIGKILL");
		await exited;
		await rm(dir, { recursive: true, force: true });
		throw new CoreError("UNAVAILABLE", `${why}: ${stderr}`);
	};
	for (;;) {
		if (child.exitCode !== null) await giveUp("haproxy exited");
		try {
			await runtime("show info");
			break;
		} catch {
			if (performance.now() > deadline) await giveUp("haproxy did not start");
			await new Promise((r) => setTimeout(r, 50));
		}
	}

	async function stats(): Promise<UpstreamState[]> {
		const csv = await runtime("show stat");
		const [header, ...rows] = csv.replace(/^# /, "").split("\n");
		const columns = (header ?? "").split(",");
		const col = (row: string[], name: string) =>
			row[columns.indexOf(name)] ?? "";
		return rows
			.map((r) => r.split(","))
			.filter(
				(r) => col(r, "pxname") === BACKEND && known.has(col(r, "svname")),
			)
			.map((r) => {
				const upstream = known.get(col(r, "svname")) as Upstream;
				const status = col(r, "status");
				return {
					...upstream,
					healthy: status.startsWith("UP") || status === "DRAIN",
					draining: status === "DRAIN",
					// In mode http a server's sessions are the requests it is serving; queued ones wait for it.
					inFlight: Number(col(r, "scur")) + Number(col(r, "qcur") || 0),
					active: Number(col(r, "scur")),
					total: Number(col(r, "stot")),
				};
			});
	}

	async function expectOk(command: string): Promise<void> {
		const answer = await runtime(command);
		if (
			answer !== "" &&
			!/^New server registered|^Server deleted|^Health check enabled/.test(
				answer,
			)
		) {
			throw new CoreError(
				"UNAVAILABLE",
				`haproxy refused "${command}": ${answer}`,
			);
		}
	}

	return {
		kind: "haproxy",
		url: `http://${hostname}:${options.port}`,
		port: options.port,
		async add(upstream, addOptions = {}) {
			const id = serverId(upstream.id);
			if (known.has(id))
				throw new CoreError(
					"INVALID_ARGUMENT",
					`upstream "${id}" is already in the pool`,
				);
			await expectOk(
				`add server ${BACKEND}/${id} ${upstream.host}:${upstream.port} check ${checkSettings(options.healthCheck)}`,
			);
			known.set(id, upstream);
			await expectOk(`enable health ${BACKEND}/${id}`);
			await expectOk(`enable server ${BACKEND}/${id}`);
			if (!addOptions.waitHealthy) return;
			const until = performance.now() + (addOptions.timeoutMs ?? 30_000);
			while (
				!(await stats()).find((s) => s.id === id && s.healthy && !s.draining)
			) {
				if (performance.now() > until)
					throw new CoreError(
						"UNAVAILABLE",
						`upstream "${id}" did not become healthy`,
					);
				// HAProxy checks on its own interval; probing ourselves only decides how long to wait.
				await checkHealth(
					upstream,
					options.healthCheck?.path ?? "/v2/health/ready",
					500,
				);
				await new Promise((r) => setTimeout(r, 100));
			}
		},
		async remove(id) {
			if (!known.has(id)) return;
			await expectOk(`set server ${BACKEND}/${id} state maint`);
			await expectOk(`shutdown sessions server ${BACKEND}/${id}`);
			await expectOk(`del server ${BACKEND}/${id}`);
			known.delete(id);
		},
		async drain(id, drainOptions = {}) {
			if (!known.has(id))
				throw new CoreError("NOT_FOUND", `no upstream "${id}"`);
			await expectOk(`set server ${BACKEND}/${id} state drain`);
			const until = performance.now() + (drainOptions.timeoutMs ?? 30_000);
			while (
				((await stats()).find((s) => s.id === id)?.active ?? 0) > 0 &&
				performance.now() < until
			) {
				await new Promise((r) => setTimeout(r, 50));
			}
		},
		list: stats,
		pids: () => (child.pid ? [child.pid] : []),
		async close() {
			if (child.exitCode === null) child.kill("SIGTERM");
			await exited;
			await rm(dir, { recursive: true, force: true });
		},
	};
}
