import { createServer } from "node:net";

/**
 * A port free on `hostname` now (the kernel picks one for a listener that is closed at once), for a child
 * process that takes `--port`. Another process could take it in between: use it right away.
 *
 * @example
 * const port = await freePort();
 * await spawnUntilReady({ command: [...server, "--port", String(port)], url: `http://127.0.0.1:${port}` });
 */
export function freePort(hostname = "127.0.0.1"): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.once("error", reject);
		server.listen(0, hostname, () => {
			const address = server.address();
			const port = typeof address === "object" && address ? address.port : 0;
			server.close(() => resolve(port));
		});
	});
}
