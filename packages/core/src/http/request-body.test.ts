import { describe, expect, it } from "vitest";
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
