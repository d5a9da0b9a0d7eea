import { request } from "node:http";
import type { Upstream } from "./types.ts";

/** One HTTP GET to an upstream's health path; true on 2xx within the timeout. */
export function checkHealth(
	upstream: Upstream,
	path: string,
	timeoutMs: number,
): Promise<boolean> {
	return new Promise((resolve) => {
		const req = request(
			{
				host: upstream.host,
				port: upstream.port,
				path,
				method: "GET",
				agent: false,
				timeout: timeoutMs,
			},
			(res) => {
				res.resume();
				resolve(
					res.statusCode !== undefined &&
						res.statusCode >= 200 &&
						res.statusCode < 300,
				);
			},
		);
		req.once("timeout", () => req.destroy());
		req.once("error", () => resolve(false));
		req.end();
	});
}
