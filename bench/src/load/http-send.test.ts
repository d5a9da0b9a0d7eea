import { describe, expect, it } from "vitest";
import { complete } from "./http-send.ts";

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
