import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FramingError, type HeadInfo, HttpFramer } from "./http-framing.ts";

/** Feeds `chunks` to a framer the way the balancer does and records what it saw. */
function frame(kind: "request" | "response", chunks: Buffer[], head = false) {
	const events: { info: HeadInfo; bytes: string }[] = [];
	let current: { info: HeadInfo; bytes: string } | undefined;
	const framer = new HttpFramer(kind, {
		onHead(_head, info) {
			// An interim response (100) and its final one are one exchange.
			current = { info, bytes: current?.bytes ?? "" };
			return undefined;
		},
		onData(bytes) {
			if (current) current.bytes += bytes.toString("latin1");
		},
		onEnd() {
			if (current) events.push(current);
			current = undefined;
		},
	});
	framer.requestWasHead = head;
	for (const chunk of chunks) {
		let offset = 0;
		while (offset < chunk.length) offset += framer.push(chunk.subarray(offset));
	}
	framer.end();
	return { events, idle: framer.idle };
}

const requests = [
	"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
	'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"records":1}',
	"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n3\r\n\r\n\n\r\n0\r\nX-Trailer: 1\r\n\r\n",
	"DELETE /d HTTP/1.1\r\nconnection: Close\r\n\r\n",
];

/** Splits a string into chunks at the given cut points. */
function split(text: string, cuts: number[]): Buffer[] {
	const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort(
		(a, b) => a - b,
	);
	const out: Buffer[] = [];
	let from = 0;
	for (const c of [...at, text.length]) {
		out.push(Buffer.from(text.slice(from, c), "latin1"));
		from = c;
	}
	return out.filter((b) => b.length > 0);
}

describe("HttpFramer", () => {
	it("finds every pipelined request whole, wherever the bytes are cut", () => {
		const stream = requests.join("");
		fc.assert(
			fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
				const { events, idle } = frame("request", split(stream, cuts));
				expect(events.map((e) => e.bytes)).toEqual(requests);
				expect(events.map((e) => e.info.method)).toEqual([
					"GET",
					"POST",
					"POST",
					"DELETE",
				]);
				expect(events.map((e) => e.info.close)).toEqual([
					false,
					false,
					false,
					true,
				]);
				expect(idle).toBe(true);
			}),
		);
	});

	it("frames responses: length, chunked, none for HEAD/204/304, interim 100, until close", () => {
		const length = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
		const chunked =
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
		const noContent = "HTTP/1.1 204 No Content\r\n\r\n";
		expect(
			frame("response", [Buffer.from(length + chunked + noContent)]).events.map(
				(e) => [e.info.status, e.bytes],
			),
		).toEqual([
			[200, length],
			[200, chunked],
			[204, noContent],
		]);
		// A response to HEAD carries a Content-Length but no body.
		const headAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
		expect(
			frame("response", [Buffer.from(headAnswer)], true).events,
		).toHaveLength(1);
		const interim = "HTTP/1.1 100 Continue\r\n\r\n";
		const { events } = frame("response", [Buffer.from(interim + length)]);
		expect(events.map((e) => [e.info.status, e.bytes])).toEqual([
			[200, interim + length],
		]);
		const untilClose = "HTTP/1.0 200 OK\r\n\r\nall of it";
		const closing = frame("response", split(untilClose, [3, 20]));
		expect(closing.events.map((e) => [e.info.untilClose, e.bytes])).toEqual([
			[true, untilClose],
		]);
	});

	it("reads header names in any case and values with spaces and lists", () => {
		const text =
			"POST /x HTTP/1.1\r\nCONTENT-LENGTH:  2 \r\nConnection: Keep-Alive, Close\r\n\r\nab";
		const { events } = frame("request", [
			Buffer.from(`${text}GET / HTTP/1.0\r\n\r\n`),
		]);
		expect(events.map((e) => [e.bytes, e.info.close])).toEqual([
			[text, true],
			// HTTP/1.0 without keep-alive closes.
			["GET / HTTP/1.0\r\n\r\n", true],
		]);
	});

	it("locates the Connection header so an upstream's close can be stripped", () => {
		const text =
			"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\nX: y\r\n\r\n";
		const [event] = frame("response", [Buffer.from(text)]).events;
		const [from, to] = event?.info.connectionLine ?? [0, 0];
		expect(event?.info.close).toBe(true);
		expect(text.slice(from, to)).toBe("Connection: close\r\n");
	});

	it.each([
		["a bad Content-Length", "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"],
		[
			"conflicting Content-Lengths",
			"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		],
		["a malformed request line", "GARBAGE\r\n\r\n"],
		["HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\n"],
		["a header line without a colon", "GET / HTTP/1.1\r\nnocolon\r\n\r\n"],
		[
			"a bad chunk size",
			"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		],
	])("refuses %s", (_name, text) => {
		expect(() => frame("request", [Buffer.from(text)])).toThrow(FramingError);
	});

	it("refuses a header section over 64 KiB even when it never ends", () => {
		const big = `GET / HTTP/1.1\r\nX: ${"a".repeat(70_000)}`;
		expect(() => frame("request", split(big, [1000, 30_000]))).toThrow(
			/too large/,
		);
	});
});
