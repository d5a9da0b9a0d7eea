import { connect, type Socket } from "node:net";

interface Connection {
	socket: Socket;
	buffer: Buffer;
	pending?: { resolve: (ok: boolean) => void; reject: (error: Error) => void };
}

const HEADER_END = Buffer.from("\r\n\r\n");

/**
 * A lean keep-alive HTTP/1.1 client for load: each request is a prebuilt byte string written to a pooled
 * socket, and the response is read just far enough to know its status and where it ends (Content-Length or
 * chunked). `node:http`'s client costs several times more CPU per request, which made the Node driver, not
 * the server, the limit near 10k req/s on this machine. Posts one of `bodies` in turn; `close` ends the
 * sockets; `opened()` counts the connections made (keep-alive reuse: one at a light rate).
 *
 * `send` writes synchronously when a connection is idle: the request leaves in the same call, not after a
 * promise hop that would let the caller's own work (the driver's scheduling) run first. It returns a plain
 * promise resolved from the socket's `data` handler, with no `async` wrapper to add microtask turns.
 * A request that waits for a connection gets the next one released, or a new one when a connection failed.
 */
export function createHttpSend(
	url: string,
	bodies: readonly string[],
	maxSockets: number,
) {
	const target = new URL(url);
	const port = Number(target.port || 80);
	const requests = requestBytes(target, bodies);
	const idle: Connection[] = [];
	const waiting: ((c: Connection) => void)[] = [];
	const all = new Set<Connection>();
	let turn = 0;
	let opened = 0;
	let closed = false;

	function open(): Connection {
		const socket = connect({ host: target.hostname, port, noDelay: true });
		const c: Connection = { socket, buffer: EMPTY };
		all.add(c);
		opened++;
		socket.on("data", (chunk: Buffer) => {
			c.buffer = c.buffer.length ? Buffer.concat([c.buffer, chunk]) : chunk;
			const status = complete(c.buffer);
			if (status === undefined || !c.pending) return;
			const { resolve } = c.pending;
			c.pending = undefined;
			c.buffer = EMPTY;
			if (status.close) socket.destroy();
			else release(c);
			resolve(status.code >= 200 && status.code < 300);
		});
		let failed = false;
		const fail = (error: Error) => {
			if (failed) return;
			failed = true;
			all.delete(c);
			const i = idle.indexOf(c);
			if (i >= 0) idle.splice(i, 1);
			if (c.pending) {
				const { reject } = c.pending;
				c.pending = undefined;
				reject(error);
			}
			// A request waiting for a connection would wait forever once every connection failed: give it a new one.
			const next = waiting.shift();
			if (next && !closed) next(open());
		};
		socket.on("error", fail);
		socket.on("close", () => fail(new Error("connection closed")));
		return c;
	}

	function release(c: Connection): void {
		const next = waiting.shift();
		if (next) next(c);
		else idle.push(c);
	}

	const send = (): Promise<boolean> => {
		if (closed) return Promise.reject(new Error("client closed"));
		const request = requests[turn++ % requests.length] as Buffer;
		return new Promise<boolean>((resolve, reject) => {
			const write = (c: Connection) => {
				c.pending = { resolve, reject };
				c.socket.write(request);
			};
			const c = idle.pop();
			if (c) write(c);
			else if (all.size < maxSockets) write(open());
			else waiting.push(write);
		});
	};
	return {
		send,
		opened: () => opened,
		close: () => {
			closed = true;
			for (const c of all) c.socket.destroy();
		},
	};
}

const EMPTY = Buffer.alloc(0);

/**
 * The bytes of a keep-alive JSON POST of each body to `target`, as the load clients write them.
 *
 * @example
 * requestBytes(new URL("http://127.0.0.1:8000/predict"), ['{"records":[]}'])[0]?.toString().split("\r\n")[0];
 * // "POST /predict HTTP/1.1"
 */
export function requestBytes(target: URL, bodies: readonly string[]): Buffer[] {
	return bodies.map((body) =>
		Buffer.from(
			`POST ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\n\r\n${body}`,
		),
	);
}

/** If `buffer` holds a whole response: its status and whether the server closes the connection. */
export function complete(
	buffer: Buffer,
): { code: number; close: boolean } | undefined {
	const end = buffer.indexOf(HEADER_END);
	if (end < 0) return undefined;
	const head = buffer.subarray(0, end).toString("latin1");
	const code = Number(head.slice(9, 12));
	const lower = head.toLowerCase();
	const close = lower.includes("\r\nconnection: close");
	const length = /\r\ncontent-length:\s*(\d+)/.exec(lower);
	if (length)
		return buffer.length >= end + 4 + Number(length[1])
			? { code, close }
			: undefined;
	if (lower.includes("\r\ntransfer-encoding: chunked"))
		return buffer.subarray(end + 4).includes("0\r\n\r\n")
			? { code, close }
			: undefined;
	return { code, close };
}
