import { describe, expect, it, vi } from "vitest";
import { MAX_JSON_DEPTH, parseJson } from "./request-body.ts";

const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;

describe("parseJson's nesting limit", () => {
	it("counts brackets outside strings only, whatever the escapes inside them", () => {
		const brackets = "[".repeat(MAX_JSON_DEPTH + 10);
		// Brackets inside strings, after an escaped quote, after an escaped backslash: all text.
		const body = JSON.stringify({
			a: brackets,
			b: `say \\"${brackets}`,
			c: `path\\\\${brackets}"${brackets}`,
			d: [deep(3)],
		});
		expect(parseJson(body)).toEqual(JSON.parse(body));
	});

	it("refuses one level too deep, naming where, also after strings with escapes", () => {
		const prefix = JSON.stringify({ a: 'x\\"[[[', b: "\\\\" }).slice(0, -1);
		const exact = `${prefix},"c":${deep(MAX_JSON_DEPTH - 1)}}`;
		expect(() => parseJson(exact)).not.toThrow();
		const over = `${prefix},"c":${deep(MAX_JSON_DEPTH)}}`;
		// The object is level 1, so the 64th bracket opens level 65; characters count from 1.
		const at = over.indexOf('"c":') + 4 + MAX_JSON_DEPTH;
		expect(() => parseJson(over)).toThrow(
			`body: JSON nested deeper than ${MAX_JSON_DEPTH} levels (at character ${at})`,
		);
	});

	it("leaves an unterminated string to JSON.parse's own error", () => {
		expect(() => parseJson('{"a":"[[[')).toThrow(/not valid JSON/);
	});
});

describe("parseJson's nesting scan on escape-heavy strings", () => {
	it("searches for each string's closing quote once, not once per escape (a linear scan)", () => {
		// 20,000 escapes in one string: a scan that looks for the closing quote again after every escape
		// reads the rest of the string each time (quadratic: seconds for a 1 MB body).
		const body = JSON.stringify({ a: "x\n".repeat(20_000), b: ["c"] });
		const indexOf = vi.spyOn(String.prototype, "indexOf");
		try {
			expect(parseJson(body)).toEqual(JSON.parse(body));
			const quoteSearches = indexOf.mock.calls.filter(([s]) => s === '"');
			// One search per string ("a", the long value, "b", "c"), plus the one that finds the next key.
			expect(quoteSearches.length).toBeLessThanOrEqual(8);
		} finally {
			indexOf.mockRestore();
		}
	});
});
