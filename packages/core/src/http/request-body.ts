import type { ZodMiniType } from "zod/mini";
import { CoreError } from "../errors.ts";

/** Deepest array/object nesting a request body may have; real requests nest 3 or 4 levels. */
export const MAX_JSON_DEPTH = 64;

/**
 * Parses a request body as JSON, refusing an empty body, malformed JSON and nesting deeper than
 * {@link MAX_JSON_DEPTH} (checked by one linear scan before parsing, so rejecting it costs no recursion).
 *
 * @example
 * parseJson('{"records":[]}'); // { records: [] }
 * parseJson("[[[[…]]]]"); // CoreError INVALID_INPUT "body: JSON nested deeper than 64 levels at character 65"
 */
export function parseJson(text: string): unknown {
	if (text.trim() === "")
		throw new CoreError(
			"INVALID_INPUT",
			"request body is empty; expected JSON",
		);
	const deep = tooDeepAt(text, MAX_JSON_DEPTH);
	if (deep !== -1) {
		throw new CoreError(
			"INVALID_INPUT",
			`body: JSON nested deeper than ${MAX_JSON_DEPTH} levels (at character ${deep + 1})`,
		);
	}
	try {
		return JSON.parse(text);
	} catch (error) {
		throw new CoreError(
			"INVALID_INPUT",
			`request body is not valid JSON: ${truncate((error as Error).message, 200)}`,
		);
	}
}

/** Index of the first bracket that opens level `max + 1` outside strings, or -1. */
function tooDeepAt(text: string, max: number): number {
	let depth = 0;
	let inString = false;
	// Next quote and next backslash at or after i, each searched again only once passed, so every character
	// is looked at a bounded number of times: the scan stays linear (escape-heavy strings included).
	let quote = -1;
	let backslash = -1;
	for (let i = 0; i < text.length; i++) {
		const c = text.charCodeAt(i);
		if (inString) {
			if (c === 92 /* \ */) i++;
			else if (c === 34 /* " */) inString = false;
			else {
				// Jump to the next quote or backslash: strings are most of a body (names, categories).
				if (quote < i) {
					quote = text.indexOf('"', i);
					if (quote === -1) return -1; // unterminated: JSON.parse refuses it
				}
				if (backslash !== Number.POSITIVE_INFINITY && backslash < i) {
					backslash = text.indexOf("\\", i);
					if (backslash === -1) backslash = Number.POSITIVE_INFINITY;
				}
				i = Math.min(quote, backslash) - 1;
			}
		} else if (c === 34) inString = true;
		else if (c === 91 /* [ */ || c === 123 /* { */) {
			if (++depth > max) return i;
		} else if (c === 93 /* ] */ || c === 125 /* } */) depth--;
	}
	return -1;
}

/** Most schema issues listed in one error message; the rest are counted. */
export const MAX_LISTED_ISSUES = 20;

/**
 * Validates a parsed body against a zod schema; a failure is a `CoreError` INVALID_INPUT naming each
 * field path (`records[0]: expected record, received number`), at most {@link MAX_LISTED_ISSUES} of them.
 * `accepts`, a guard that answers true only for bodies the schema certainly accepts (see
 * `fast-accept.ts`), skips the schema on the hot path; the body is then returned as it is.
 *
 * @example
 * parse(schemas.predictRequest, { records: 1 }); // throws "records: Invalid input: expected array, received number"
 * parse(schemas.predictRequest, body, acceptsPredictRequest); // the schema runs only when the guard doubts
 */
export function parse<T>(
	schema: ZodMiniType<T>,
	value: unknown,
	accepts?: (value: unknown) => value is T,
): T {
	if (accepts?.(value)) return value;
	const result = schema.safeParse(value);
	if (result.success) return result.data;
	const { issues } = result.error;
	const problems = issues.slice(0, MAX_LISTED_ISSUES).map((issue) => {
		const path = issue.path
			.map((k, i) =>
				typeof k === "number"
					? `[${k}]`
					: `${i ? "." : ""}${truncate(String(k), 100)}`,
			)
			.join("");
		return `${path || "body"}: ${truncate(issue.message, 200)}`;
	});
	if (issues.length > MAX_LISTED_ISSUES)
		problems.push(`and ${issues.length - MAX_LISTED_ISSUES} more issues`);
	throw new CoreError("INVALID_INPUT", problems.join("; "));
}

/**
 * A value cut to `max` characters for an error message, saying how much was cut.
 *
 * @example
 * truncate("a".repeat(1000), 10); // "aaaaaaaaaa… (990 more characters)"
 */
export function truncate(text: string, max: number): string {
	return text.length <= max
		? text
		: `${text.slice(0, max)}… (${text.length - max} more characters)`;
}
