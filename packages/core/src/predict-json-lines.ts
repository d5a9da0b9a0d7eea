import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { FieldIssue } from "./errors.ts";
import type { Predictor } from "./predictor.ts";

/** Options of {@link predictJsonLines}. */
export interface PredictJsonLinesOptions {
	input: Readable;
	output: Writable;
	/** Lines predicted per model run. Default 256. */
	chunkSize?: number;
}

/** Counts of a {@link predictJsonLines} run. */
export interface PredictJsonLinesResult {
	predicted: number;
	rejected: number;
}

interface Line {
	number: number;
	id?: unknown;
	record?: unknown;
	error?: string;
	issues?: FieldIssue[];
}

/**
 * Predicts JSON lines: each input line is a record or an envelope `{"id", "record"}`; each output line is
 * `{"label", "probabilities"}` (with the id, if any) or, for a line that cannot be predicted,
 * `{"line", "error", "issues"}` in its place. Good lines are never lost to bad ones. Lines are predicted
 * in chunks, one model run per chunk. The CLI of `@mdp/core` and the static single executable share it.
 */
export async function predictJsonLines(
	predictor: Predictor,
	options: PredictJsonLinesOptions,
): Promise<PredictJsonLinesResult> {
	const { output } = options;
	const chunkSize = options.chunkSize ?? 256;
	const lines = createInterface({
		input: options.input,
		crlfDelay: Number.POSITIVE_INFINITY,
	});
	const result = { predicted: 0, rejected: 0 };
	let chunk: Line[] = [];
	const flush = async () => {
		const valid = chunk.filter((l) => l.error === undefined);
		const predictions = await predictor.predict(valid.map((l) => l.record));
		let next = 0;
		const out = chunk.map((l) => {
			if (l.error !== undefined) {
				result.rejected++;
				return JSON.stringify({
					line: l.number,
					...(l.id === undefined ? {} : { id: l.id }),
					error: l.error,
					issues: l.issues,
				});
			}
			result.predicted++;
			const prediction = predictions[next++];
			return JSON.stringify(
				l.id === undefined ? prediction : { id: l.id, ...prediction },
			);
		});
		chunk = [];
		if (!output.write(`${out.join("\n")}\n`))
			await new Promise((r) => output.once("drain", r));
	};
	let number = 0;
	for await (const text of lines) {
		number++;
		if (text.trim() === "") continue;
		chunk.push(parseLine(text, number, predictor));
		if (chunk.length >= chunkSize) await flush();
	}
	if (chunk.length > 0) await flush();
	return result;
}

function parseLine(text: string, number: number, predictor: Predictor): Line {
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch (error) {
		return {
			number,
			error: `line ${number}: not valid JSON (${(error as Error).message})`,
		};
	}
	const envelope =
		typeof value === "object" &&
		value !== null &&
		"record" in value &&
		typeof value.record === "object"
			? (value as { id?: unknown; record: unknown })
			: undefined;
	const record = envelope ? envelope.record : value;
	const issues = predictor.extractor.check(record, 0).map((issue) => ({
		...issue,
		record: number,
		message: issue.message.replace(/^record 0/, `line ${number}`),
	}));
	if (issues.length > 0)
		return {
			number,
			id: envelope?.id,
			error: issues.map((i) => i.message).join("; "),
			issues,
		};
	return { number, id: envelope?.id, record };
}
