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
 * The HAProxy configuration equivalent to the embedded balancer: least-connections, active HTTP checks on
 * the OIP ready endpoint, retry on connection failure to another server. Unlike the embedded balancer it
 * works at L7 (`mode http`): each request is balanced, and keep-alive is kept on both sides.
 */
export function toHaproxyConfig(options: HaproxyConfigOptions): string {
	const path = options.healthCheck?.path ?? "/v2/health/ready";
	const inter = options.healthCheck?.intervalMs ?? 1000;
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
		`  default-server inter ${inter}ms fall ${options.healthCheck?.fall ?? 2} rise ${options.healthCheck?.rise ?? 1}`,
		...options.upstreams.map(
			(u) => `  server ${serverId(u.id)} ${u.host}:${u.port} check`,
		),
	];
	return `${lines.join("\n")}\n`;
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
	for (;;) {
		if (child.exitCode !== null)
			throw new CoreError("UNAVAILABLE", `haproxy exited: ${stderr}`);
		try {
			await runtime("show info");
			break;
		} catch {
			if (performance.now() > deadline)
				throw new CoreError("UNAVAILABLE", `haproxy did not start: ${stderr}`);
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
				`add server ${BACKEND}/${id} ${upstream.host}:${upstream.port} check`,
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
