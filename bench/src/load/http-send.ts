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
 * sockets.
 */
export function createHttpSend(
	url: string,
	bodies: readonly string[],
	maxSockets: number,
) {
	const target = new URL(url);
	const port = Number(target.port || 80);
	const requests = bodies.map((body) =>
		Buffer.from(
			`POST ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\n\r\n${body}`,
		),
	);
	const idle: Connection[] = [];
	const waiting: ((c: Connection) => void)[] = [];
	const all = new Set<Connection>();
	let turn = 0;
	let closed = false;

	function open(): Connection {
		const socket = connect({ host: target.hostname, port, noDelay: true });
		const c: Connection = { socket, buffer: Buffer.alloc(0) };
		all.add(c);
		socket.on("data", (chunk: Buffer) => {
			c.buffer = c.buffer.length ? Buffer.concat([c.buffer, chunk]) : chunk;
			const status = complete(c.buffer);
			if (status === undefined || !c.pending) return;
			const { resolve } = c.pending;
			c.pending = undefined;
			c.buffer = Buffer.alloc(0);
			if (status.close) socket.destroy();
			else release(c);
			resolve(status.code >= 200 && status.code < 300);
		});
		const fail = (error: Error) => {
			all.delete(c);
			const i = idle.indexOf(c);
			if (i >= 0) idle.splice(i, 1);
			if (c.pending) {
				const { reject } = c.pending;
				c.pending = undefined;
				reject(error);
			}
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

	function acquire(): Promise<Connection> {
		const c = idle.pop();
		if (c) return Promise.resolve(c);
		if (all.size < maxSockets) return Promise.resolve(open());
		return new Promise((resolve) => waiting.push(resolve));
	}

	const send = async (): Promise<boolean> => {
		if (closed) throw new Error("client closed");
		const request = requests[turn++ % requests.length] as Buffer;
		const c = await acquire();
		return new Promise<boolean>((resolve, reject) => {
			c.pending = { resolve, reject };
			c.socket.write(request);
		});
	};
	return {
		send,
		close: () => {
			closed = true;
			for (const c of all) c.socket.destroy();
		},
	};
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
