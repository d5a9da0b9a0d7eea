/**
 * HTTP/1.1 message framing for the embedded balancer's HTTP mode: finds where each request and response
 * starts and ends (head, then a `Content-Length` body, a chunked body or a body that lasts until the
 * connection closes) without decoding anything else. Bytes are forwarded as they came; only the few
 * header fields that decide framing and connection reuse are read.
 */

/** What the balancer needs from a message head. */
export interface HeadInfo {
	/** Request method (requests only). */
	method: string;
	/** Status code (responses only). */
	status: number;
	/** The sender wants the connection closed after this message (`Connection: close`, or HTTP/1.0 without keep-alive). */
	close: boolean;
	/** Byte range of the `Connection` header line within the head, when there is one (to strip it). */
	connectionLine: [number, number] | undefined;
	/** A response whose body lasts until the connection closes (no length, not chunked). */
	untilClose: boolean;
}

/** Why a head cannot be framed: the message is refused with 400 (request) or 502 (response). */
export class FramingError extends Error {}

const CRLFCRLF = Buffer.from("\r\n\r\n");
/** Heads larger than this are refused (Node's own limit is 16 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;

type BodyKind = "none" | "length" | "chunked" | "close";
const S = {
	HEAD: 0,
	LENGTH: 1,
	CHUNK_SIZE: 2,
	CHUNK_DATA: 3,
	TRAILER: 4,
	CLOSE: 5,
} as const;
type State = (typeof S)[keyof typeof S];

/** Receives a message's pieces, in order: one head, data slices (head bytes included), one end. */
export interface FramerSink {
	/** Called with the whole head; may return replacement bytes to forward instead (e.g. a header stripped). */
	onHead(head: Buffer, info: HeadInfo): Buffer | undefined;
	/** Bytes to forward (the head, possibly replaced, then the body as it arrives). */
	onData(bytes: Buffer): void;
	/** The message is complete. */
	onEnd(): void;
}

/**
 * Incremental framer of one direction of one connection. `push` consumes bytes up to the end of the current
 * message and returns how many it consumed; the caller keeps the rest (a pipelined next message) for later.
 */
export class HttpFramer {
	private state: State = S.HEAD;
	private partial: Buffer | undefined;
	private remaining = 0;
	private line = "";
	private pendingChunk: Buffer | undefined;
	private pendingFrom = 0;
	private pendingTo = 0;
	private done = false;
	/** For a response: the request was HEAD (a response to it has no body). */
	requestWasHead = false;

	private readonly kind: "request" | "response";
	private readonly sink: FramerSink;

	constructor(kind: "request" | "response", sink: FramerSink) {
		this.kind = kind;
		this.sink = sink;
	}

	/** True between messages (nothing of the next message seen yet). */
	get idle(): boolean {
		return this.state === S.HEAD && this.partial === undefined;
	}

	/** True when the current message's body lasts until the connection closes. */
	get untilClose(): boolean {
		return this.state === S.CLOSE;
	}

	/** Consumes `chunk` up to the end of one message; returns the number of bytes consumed. */
	push(chunk: Buffer): number {
		const consumed = this.consume(chunk);
		this.flush();
		return consumed;
	}

	private consume(chunk: Buffer): number {
		let offset = 0;
		while (offset < chunk.length) {
			switch (this.state) {
				case S.HEAD: {
					const used = this.readHead(chunk, offset);
					if (used < 0) return chunk.length;
					offset = used;
					break;
				}
				case S.LENGTH: {
					const take = Math.min(this.remaining, chunk.length - offset);
					this.forward(chunk, offset, offset + take);
					offset += take;
					this.remaining -= take;
					if (this.remaining === 0) this.finish();
					break;
				}
				case S.CHUNK_SIZE:
				case S.TRAILER: {
					const nl = chunk.indexOf(10, offset);
					const end = nl < 0 ? chunk.length : nl + 1;
					this.line += chunk.toString("latin1", offset, end);
					this.forward(chunk, offset, end);
					offset = end;
					if (nl < 0) {
						if (this.line.length > 4096)
							throw new FramingError("chunk line too long");
						break;
					}
					const text = this.line.trim();
					this.line = "";
					if (this.state === S.TRAILER) {
						if (text === "") this.finish();
						break;
					}
					const size = Number.parseInt(text.split(";")[0] ?? "", 16);
					if (!Number.isSafeInteger(size) || size < 0)
						throw new FramingError(`bad chunk size "${text}"`);
					if (size === 0) this.state = S.TRAILER;
					else {
						this.state = S.CHUNK_DATA;
						this.remaining = size + 2; // data and its CRLF
					}
					break;
				}
				case S.CHUNK_DATA: {
					const take = Math.min(this.remaining, chunk.length - offset);
					this.forward(chunk, offset, offset + take);
					offset += take;
					this.remaining -= take;
					if (this.remaining === 0) this.state = S.CHUNK_SIZE;
					break;
				}
				case S.CLOSE:
					this.forward(chunk, offset, chunk.length);
					return chunk.length;
			}
			if (this.done) {
				this.done = false;
				return offset;
			}
		}
		return offset;
	}

	/** The connection ended: completes a body that lasts until close. True when that was the case. */
	end(): boolean {
		if (this.state !== S.CLOSE) return false;
		this.finish();
		this.done = false;
		return true;
	}

	/**
	 * Queues `chunk[from, to)` for forwarding. Adjacent ranges of one chunk are merged, so a head and its
	 * body that arrived together leave in one write (one syscall, which is most of a proxy's cost).
	 */
	private forward(chunk: Buffer, from: number, to: number): void {
		if (to <= from) return;
		if (this.pendingChunk === chunk && this.pendingTo === from) {
			this.pendingTo = to;
			return;
		}
		this.flush();
		this.pendingChunk = chunk;
		this.pendingFrom = from;
		this.pendingTo = to;
	}

	private flush(): void {
		const chunk = this.pendingChunk;
		if (!chunk) return;
		this.pendingChunk = undefined;
		this.sink.onData(
			this.pendingFrom === 0 && this.pendingTo === chunk.length
				? chunk
				: chunk.subarray(this.pendingFrom, this.pendingTo),
		);
	}

	private finish(): void {
		this.flush();
		this.state = S.HEAD;
		this.done = true;
		this.sink.onEnd();
	}

	/** Returns the offset after the head, or -1 when the head is not complete yet (bytes kept). */
	private readHead(chunk: Buffer, offset: number): number {
		let buffer = chunk;
		let start = offset;
		if (this.partial) {
			buffer = Buffer.concat([this.partial, chunk.subarray(offset)]);
			start = 0;
		}
		// Tolerate CRLFs between messages (RFC 9112 §2.2).
		while (
			start < buffer.length &&
			(buffer[start] === 13 || buffer[start] === 10)
		)
			start++;
		const at = buffer.indexOf(CRLFCRLF, start);
		if (at < 0) {
			if (buffer.length - start > MAX_HEAD_BYTES)
				throw new FramingError("header section too large");
			this.partial = start < buffer.length ? buffer.subarray(start) : undefined;
			return -1;
		}
		const headEnd = at + 4;
		if (headEnd - start > MAX_HEAD_BYTES)
			throw new FramingError("header section too large");
		const head = buffer.subarray(start, headEnd);
		// Offset in `chunk` right after the head.
		const consumed = this.partial
			? offset + (headEnd - this.partial.length)
			: headEnd;
		this.partial = undefined;
		const { info, body, length } = this.parse(head);
		const replaced = this.sink.onHead(head, info);
		if (replaced || buffer !== chunk) {
			this.flush();
			this.sink.onData(replaced ?? head);
		} else this.forward(chunk, start, headEnd);
		if (this.kind === "response" && info.status >= 100 && info.status < 200) {
			// An interim response (100 Continue): the final one follows.
			return consumed;
		}
		switch (body) {
			case "none":
				this.finish();
				break;
			case "length":
				if (length === 0) this.finish();
				else {
					this.state = S.LENGTH;
					this.remaining = length;
				}
				break;
			case "chunked":
				this.state = S.CHUNK_SIZE;
				break;
			case "close":
				this.state = S.CLOSE;
				break;
		}
		return consumed;
	}

	private parse(head: Buffer): {
		info: HeadInfo;
		body: BodyKind;
		length: number;
	} {
		const text = head.toString("latin1");
		const firstEnd = text.indexOf("\r\n");
		const first = text.slice(0, firstEnd);
		const info: HeadInfo = {
			method: "",
			status: 0,
			close: false,
			connectionLine: undefined,
			untilClose: false,
		};
		let http10: boolean;
		if (this.kind === "request") {
			const sp1 = first.indexOf(" ");
			const sp2 = first.lastIndexOf(" ");
			if (sp1 <= 0 || sp2 <= sp1)
				throw new FramingError("malformed request line");
			info.method = first.slice(0, sp1);
			const version = first.slice(sp2 + 1);
			if (!version.startsWith("HTTP/1."))
				throw new FramingError(`unsupported protocol "${version}"`);
			http10 = version === "HTTP/1.0";
		} else {
			if (!first.startsWith("HTTP/1."))
				throw new FramingError("malformed status line");
			http10 = first.startsWith("HTTP/1.0");
			info.status = Number(first.slice(9, 12));
			if (!Number.isInteger(info.status))
				throw new FramingError("malformed status line");
		}
		let length = -1;
		let chunked = false;
		let keepAlive = false;
		let pos = firstEnd + 2;
		while (pos < text.length - 2) {
			const eol = text.indexOf("\r\n", pos);
			const colon = text.indexOf(":", pos);
			if (colon > 0 && colon < eol) {
				const nameLength = colon - pos;
				// Only three names matter; compare lengths first, then characters, without allocating.
				if (nameLength === 14 && sameName(text, pos, "content-length")) {
					const n = digits(text, colon + 1, eol);
					if (n < 0 || (length >= 0 && length !== n))
						throw new FramingError(
							`bad Content-Length "${text.slice(colon + 1, eol).trim()}"`,
						);
					length = n;
				} else if (
					nameLength === 17 &&
					sameName(text, pos, "transfer-encoding")
				) {
					const value = text
						.slice(colon + 1, eol)
						.trim()
						.toLowerCase();
					if (value.endsWith("chunked")) chunked = true;
					else if (this.kind === "request")
						throw new FramingError(`unsupported Transfer-Encoding "${value}"`);
				} else if (nameLength === 10 && sameName(text, pos, "connection")) {
					info.connectionLine = [pos, eol + 2];
					const value = text
						.slice(colon + 1, eol)
						.trim()
						.toLowerCase();
					if (value === "keep-alive") keepAlive = true;
					else if (value === "close") info.close = true;
					else {
						if (/(^|,)\s*close\s*(,|$)/.test(value)) info.close = true;
						if (/(^|,)\s*keep-alive\s*(,|$)/.test(value)) keepAlive = true;
					}
				}
			} else if (eol !== pos) {
				throw new FramingError("malformed header line");
			}
			pos = eol + 2;
		}
		if (http10 && !keepAlive) info.close = true;
		let body: BodyKind;
		if (this.kind === "request") {
			body = chunked ? "chunked" : length > 0 ? "length" : "none";
		} else if (
			this.requestWasHead ||
			info.status === 204 ||
			info.status === 304 ||
			(info.status >= 100 && info.status < 200)
		) {
			body = "none";
		} else {
			body = chunked ? "chunked" : length >= 0 ? "length" : "close";
		}
		info.untilClose = body === "close";
		return { info, body, length: Math.max(length, 0) };
	}
}

/** Whether `text` has the header name `lower` (lower case) at `pos`, ignoring ASCII case. */
function sameName(text: string, pos: number, lower: string): boolean {
	for (let i = 0; i < lower.length; i++) {
		const c = text.charCodeAt(pos + i);
		// ASCII letters differ from their lower case by 0x20; '-' is compared as is.
		if ((c >= 65 && c <= 90 ? c | 0x20 : c) !== lower.charCodeAt(i))
			return false;
	}
	return true;
}

/** The decimal integer in `text[from, to)` (spaces around allowed), or -1 if it is not one. */
function digits(text: string, from: number, to: number): number {
	let i = from;
	while (i < to && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
	let end = to;
	while (
		end > i &&
		(text.charCodeAt(end - 1) === 32 || text.charCodeAt(end - 1) === 9)
	)
		end--;
	if (end === i || end - i > 15) return -1;
	let n = 0;
	for (let j = i; j < end; j++) {
		const d = text.charCodeAt(j) - 48;
		if (d < 0 || d > 9) return -1;
		n = n * 10 + d;
	}
	return n;
}
