import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { complete, createHttpSend, requestBytes } from "./http-send.ts";

const b = (s: string) => Buffer.from(s);

describe("complete (response framing of the load client)", () => {
	it("waits for the whole Content-Length body", () => {
		const head =
			"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n";
		expect(complete(b(`${head}01234`))).toBeUndefined();
		expect(complete(b(`${head}0123456789`))).toEqual({
			code: 200,
			close: false,
		});
		expect(complete(b("HTTP/1.1 200 OK\r\nContent-Le"))).toBeUndefined();
	});

	it("reads the status and the server's intent to close", () => {
		expect(
			complete(
				b(
					"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\ncontent-length: 2\r\n\r\n{}",
				),
			),
		).toEqual({ code: 503, close: true });
	});

	it("ends a chunked body at its last chunk", () => {
		const head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
		expect(complete(b(`${head}2\r\n{}\r\n`))).toBeUndefined();
		expect(complete(b(`${head}2\r\n{}\r\n0\r\n\r\n`))).toEqual({
			code: 200,
			close: false,
		});
	});
});

describe("requestBytes", () => {
	it("writes a keep-alive JSON POST whose Content-Length counts bytes, not characters", () => {
		const [request] = requestBytes(new URL("http://127.0.0.1:9/predict?x=1"), [
			'{"island":"Bíscoe"}',
		]);
		const text = request?.toString() ?? "";
		expect(text.split("\r\n")[0]).toBe("POST /predict?x=1 HTTP/1.1");
		expect(text).toContain("Content-Length: 20\r\n");
		expect(text).toContain("Connection: keep-alive\r\n");
		expect(text.endsWith('\r\n\r\n{"island":"Bíscoe"}')).toBe(true);
	});
});

describe("createHttpSend (against a real server)", () => {
	let server: Server | undefined;
	afterEach(async () => {
		await new Promise((r) => (server ? server.close(r) : r(undefined)));
		server = undefined;
	});
	const listen = async (handler: RequestListener) => {
		server = createServer(handler);
		await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
		return `http://127.0.0.1:${(server.address() as AddressInfo).port}/predict`;
	};

	it("reuses one keep-alive connection for sequential requests and tells 2xx from errors", async () => {
		let seen = 0;
		const url = await listen((req, res) => {
			req.resume();
			req.on("end", () => {
				seen++;
				res.writeHead(seen % 5 === 0 ? 500 : 200, {
					"content-type": "application/json",
				});
				res.end("{}");
			});
		});
		const client = createHttpSend(url, ["{}"], 8);
		try {
			const answers: boolean[] = [];
			for (let i = 0; i < 20; i++) answers.push(await client.send());
			expect(answers.filter((ok) => !ok)).toHaveLength(4);
			expect(client.opened()).toBe(1);
		} finally {
			client.close();
		}
	});

	it("gives a request waiting for a connection a new one when the only connection dies", async () => {
		let first = true;
		const url = await listen((req, res) => {
			if (first) {
				first = false;
				req.socket.destroy();
				return;
			}
			req.resume();
			req.on("end", () => res.end("{}"));
		});
		const client = createHttpSend(url, ["{}"], 1);
		try {
			const [a, c] = await Promise.allSettled([client.send(), client.send()]);
			expect(a.status).toBe("rejected");
			expect(c).toEqual({ status: "fulfilled", value: true });
			expect(client.opened()).toBe(2);
		} finally {
			client.close();
		}
	});
});
