// Small plain-JavaScript programs the image carries beside the server. They run on the image's Node with
// no dependency; the generated manifests use them.

import { DEFAULT_IMAGE_PORT } from "./image-defaults.ts";

/** `HEALTHCHECK`: the OIP ready endpoint on the server's port (the image has no curl). */
export const HEALTHCHECK_MJS = `import { readFileSync } from "node:fs";
let port = process.env.MDP_PORT || "${DEFAULT_IMAGE_PORT}";
try { port = readFileSync("/tmp/mdp-port", "utf8").trim() || port; } catch {}
fetch("http://127.0.0.1:" + port + "/v2/health/ready", { signal: AbortSignal.timeout(2000) })
	.then((res) => process.exit(res.ok ? 0 : 1), () => process.exit(1));
`;

/**
 * Entry point for replicas that share the host network (Swarm): the port is MDP_PORT_BASE + 2 × (task slot −
 * 1), or the one after it while an older task of the same slot still holds it (start-first updates). The
 * port chosen goes to /tmp/mdp-port for the health check.
 */
export const SERVE_SLOT_MJS = `import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
const host = process.env.MDP_HOST || "127.0.0.1";
const base = Number(process.env.MDP_PORT_BASE || 9000);
const slot = Number(process.env.MDP_SLOT || 1);
const free = (port) => new Promise((resolve) => {
	const probe = createServer();
	probe.once("error", () => resolve(false));
	probe.listen(port, host, () => probe.close(() => resolve(true)));
});
let port = base + 2 * (slot - 1);
if (!(await free(port))) port += 1;
writeFileSync("/tmp/mdp-port", String(port));
process.env.MDP_PORT = String(port);
process.argv.push("--host", host, "--port", String(port));
await import("./mdp-serve.mjs");
`;

/**
 * A connection-level balancer for Compose and Swarm (where our embedded balancer does not run): every
 * second it resolves MDP_UPSTREAMS (host:port list; a name may resolve to several replicas) and keeps those
 * whose OIP ready endpoint answers; each client connection goes to the next ready one, retried on another
 * when it cannot connect. Listens on MDP_LISTEN (127.0.0.1:8080).
 */
export const BALANCE_MJS = `import { lookup } from "node:dns/promises";
import { connect, createServer } from "node:net";
const split = (spec) => { const i = spec.lastIndexOf(":"); return { host: spec.slice(0, i), port: Number(spec.slice(i + 1)) }; };
const listen = split(process.env.MDP_LISTEN || "127.0.0.1:${DEFAULT_IMAGE_PORT}");
const specs = (process.env.MDP_UPSTREAMS || "").split(",").map((s) => s.trim()).filter(Boolean).map(split);
let ready = [];
let turn = 0;
async function probe(host, port) {
	try {
		const res = await fetch("http://" + (host.includes(":") ? "[" + host + "]" : host) + ":" + port + "/v2/health/ready", { signal: AbortSignal.timeout(1000) });
		await res.arrayBuffer();
		return res.ok;
	} catch { return false; }
}
async function check() {
	const targets = [];
	for (const spec of specs) {
		let addresses = [];
		try { addresses = (await lookup(spec.host, { all: true })).map((a) => a.address); } catch {}
		for (const host of addresses) targets.push({ host, port: spec.port });
	}
	const ok = await Promise.all(targets.map((t) => probe(t.host, t.port)));
	ready = targets.filter((_, i) => ok[i]);
	setTimeout(check, 1000);
}
const BODY = '{"error":"no healthy upstream; retry later"}';
const UNAVAILABLE = "HTTP/1.1 503 Service Unavailable\\r\\nContent-Type: application/json\\r\\nRetry-After: 1\\r\\nContent-Length: " + BODY.length + "\\r\\nConnection: close\\r\\n\\r\\n" + BODY;
const server = createServer({ noDelay: true, pauseOnConnect: true }, (client) => {
	client.on("error", () => client.destroy());
	const route = (tried) => {
		const options = ready.filter((t) => !tried.includes(t));
		if (options.length === 0 || tried.length > 2) return client.end(UNAVAILABLE);
		const target = options[turn++ % options.length];
		tried.push(target);
		const upstream = connect({ host: target.host, port: target.port, noDelay: true });
		let connected = false;
		upstream.once("connect", () => { connected = true; client.pipe(upstream); upstream.pipe(client); client.resume(); });
		upstream.once("error", () => { if (connected) client.destroy(); else route(tried); });
		upstream.once("close", () => { if (connected) client.destroy(); });
		client.once("close", () => upstream.destroy());
	};
	route([]);
});
await check();
server.listen(listen.port, listen.host, () => console.log(JSON.stringify({ event: "listening", url: "http://" + listen.host + ":" + listen.port, upstreams: specs.length })));
process.once("SIGTERM", () => server.close(() => process.exit(0)));
`;
