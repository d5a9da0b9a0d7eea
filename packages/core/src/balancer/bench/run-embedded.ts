// A child process running only the embedded balancer, so its CPU time can be read from /proc.
// Usage: run-embedded.ts <http|tcp> <upstreams JSON>; prints {"url":…} once listening.
import { startEmbeddedBalancer } from "../embedded-balancer.ts";
import type { Upstream } from "../types.ts";

const [mode, upstreams] = process.argv.slice(2);
const lb = await startEmbeddedBalancer({
	mode: mode === "tcp" ? "tcp" : "http",
	upstreams: JSON.parse(upstreams ?? "[]") as Upstream[],
});
console.log(JSON.stringify({ url: lb.url }));
process.once("SIGTERM", () => void lb.close().then(() => process.exit(0)));
