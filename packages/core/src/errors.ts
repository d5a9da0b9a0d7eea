/** What went wrong, as a stable string the HTTP layer and CLIs map to a status or an exit code. */
export type CoreErrorCode =
	| "INVALID_INPUT"
	| "INVALID_BUNDLE"
	| "MODEL_LOAD_FAILED"
	| "INFERENCE_FAILED"
	| "INVALID_ARGUMENT"
	| "NOT_FOUND"
	| "UNAUTHORIZED"
	| "FORBIDDEN"
	| "TIMEOUT"
	| "UNAVAILABLE";

/** One problem with one field of one input record. */
export interface FieldIssue {
	/** Index of the record in the request (0-based). */
	record: number;
	/** Feature (field) name. */
	field: string;
	/** What the feature spec accepts. */
	expected: string;
	/** What the record held, rendered for a human. */
	got: string;
	/** One sentence naming all of the above. */
	message: string;
}

/** Options of a {@link CoreError}. */
export interface CoreErrorOptions {
	cause?: unknown;
	/** Field-level problems, for `INVALID_INPUT`. */
	issues?: FieldIssue[];
}

/** The one error class of `@mdp/core`: a message, a code and, for bad input, the field-level issues. */
export class CoreError extends Error {
	readonly code: CoreErrorCode;
	readonly issues: FieldIssue[];

	constructor(
		code: CoreErrorCode,
		message: string,
		options: CoreErrorOptions = {},
	) {
		super(message, { cause: options.cause });
		this.name = "CoreError";
		this.code = code;
		this.issues = options.issues ?? [];
	}
}

/** Whether `value` is a {@link CoreError}. */
export function isCoreError(value: unknown): value is CoreError {
	return value instanceof CoreError;
}

/** Normalises anything thrown into a {@link CoreError}, keeping the original as `cause`. */
export function toCoreError(
	value: unknown,
	code: CoreErrorCode = "INFERENCE_FAILED",
): CoreError {
	if (isCoreError(value)) return value;
	const message = value instanceof Error ? value.message : String(value);
	return new CoreError(code, message, { cause: value });
}
