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
	/** Called once, right after the first output line was written (start-up measurements). */
	onFirstOutput?: () => void;
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
export function predictJsonLines(
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
	let firstOutput = options.onFirstOutput;
	let chunk: Line[] = [];
	let number = 0;
	let scheduled = false;
	// Chunks are predicted one after the other, in input order.
	let queue: Promise<void> = Promise.resolve();

	const flush = async (lines: Line[]) => {
		if (lines.length === 0) return;
		const valid = lines.filter((l) => l.error === undefined);
		const predictions = await predictor.predict(valid.map((l) => l.record));
		let next = 0;
		const out = lines.map((l) => {
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
		const flushed = output.write(`${out.join("\n")}\n`);
		firstOutput?.();
		firstOutput = undefined;
		if (!flushed) await new Promise((r) => output.once("drain", r));
	};
	const enqueue = () => {
		const taken = chunk;
		chunk = [];
		queue = queue.then(() => flush(taken));
	};

	return new Promise((resolve, reject) => {
		lines.on("line", (text) => {
			number++;
			if (text.trim() === "") return;
			chunk.push(parseLine(text, number, predictor));
			if (chunk.length >= chunkSize) enqueue();
			else if (!scheduled) {
				// Lines that arrived together (one read) are predicted together; a lone line is not held back
				// waiting for 255 more, so the tool also answers line by line when used interactively.
				scheduled = true;
				setImmediate(() => {
					scheduled = false;
					enqueue();
				});
			}
		});
		lines.once("close", () => {
			enqueue();
			queue.then(() => resolve(result), reject);
		});
		lines.once("error", reject);
	});
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
