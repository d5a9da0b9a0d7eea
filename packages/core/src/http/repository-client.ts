import { CoreError, type CoreErrorCode } from "../errors.ts";

/** One model folder of the repository and its state (`POST /v2/repository/index`). */
export interface RepositoryIndexEntry {
	name: string;
	version?: string;
	state: "READY" | "UNAVAILABLE";
	reason: string;
}

/** What a load answered: the model now served, and how long loading and warming it up took. */
export interface LoadedModel {
	name: string;
	version: string;
	load_ms: number;
}

/** What a drain answered: requests still in flight when it returned (0 unless it timed out). */
export interface DrainResult {
	draining: boolean;
	in_flight: number;
}

/** Options of {@link createAdminClient}. */
export interface AdminClientOptions {
	/** Base URL of one server (not a balancer: admin calls address one instance). */
	url: string;
	/** The server's `MDP_ADMIN_TOKEN`. */
	token: string;
	/** Per call. Default 60 s (a load includes the model's warm-up). */
	timeoutMs?: number;
}

/** Typed client of a server's admin routes: the model repository (index, load, unload) and drain. */
export interface AdminClient {
	index(): Promise<RepositoryIndexEntry[]>;
	/** Loads (or hot-swaps) `<model root>/<name>`; the old version keeps serving if the new one fails. */
	load(
		name: string,
		options?: { keepOtherVersions?: boolean },
	): Promise<LoadedModel>;
	unload(name: string): Promise<void>;
	/**
	 * Readiness turns false, keep-alive clients are told to reconnect (`Connection: close`); resolves when
	 * no request is in flight, or after `timeoutMs` (server side, default 30 s) with the count left.
	 */
	drain(options?: { timeoutMs?: number }): Promise<DrainResult>;
	/** Ends a drain: the server is ready again. */
	resume(): Promise<void>;
}

const STATUS_CODES: Record<number, CoreErrorCode> = {
	400: "INVALID_BUNDLE",
	401: "UNAUTHORIZED",
	403: "FORBIDDEN",
	404: "NOT_FOUND",
	503: "UNAVAILABLE",
};

/**
 * Creates a client of one server's admin API. Errors are `CoreError`s carrying the server's own message
 * (a refused bundle says why), so a rolling update can stop and report the reason.
 *
 * @example
 * const admin = createAdminClient({ url: "http://127.0.1.1:8080", token: process.env.MDP_ADMIN_TOKEN });
 * await admin.drain();
 * await admin.load("penguins"); // hot swap to <root>/penguins
 * await admin.resume();
 */
export function createAdminClient(options: AdminClientOptions): AdminClient {
	const call = async <T>(path: string, body?: unknown): Promise<T> => {
		let res: Response;
		try {
			res = await fetch(new URL(path, options.url), {
				method: "POST",
				headers: {
					authorization: `Bearer ${options.token}`,
					...(body === undefined ? {} : { "content-type": "application/json" }),
				},
				body: body === undefined ? undefined : JSON.stringify(body),
				signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
			});
		} catch (error) {
			throw new CoreError(
				"UNAVAILABLE",
				`${options.url}${path}: ${(error as Error).message}`,
				{ cause: error },
			);
		}
		const text = await res.text();
		let json: unknown;
		try {
			json = text ? JSON.parse(text) : undefined;
		} catch {
			json = undefined;
		}
		if (!res.ok) {
			const message =
				(json as { error?: string } | undefined)?.error ?? text.slice(0, 200);
			throw new CoreError(
				STATUS_CODES[res.status] ?? "UNAVAILABLE",
				`${options.url}${path}: ${res.status} ${message}`,
			);
		}
		return json as T;
	};
	const model = (name: string) =>
		`/v2/repository/models/${encodeURIComponent(name)}`;
	return {
		index: () => call<RepositoryIndexEntry[]>("/v2/repository/index"),
		load: (name, loadOptions = {}) =>
			call<LoadedModel>(
				`${model(name)}/load`,
				loadOptions.keepOtherVersions === undefined
					? undefined
					: {
							parameters: {
								keep_other_versions: loadOptions.keepOtherVersions,
							},
						},
			),
		unload: async (name) => {
			await call(`${model(name)}/unload`);
		},
		drain: (drainOptions = {}) =>
			call<DrainResult>(
				"/v2/admin/drain",
				drainOptions.timeoutMs === undefined
					? undefined
					: { timeout_ms: drainOptions.timeoutMs },
			),
		resume: async () => {
			await call("/v2/admin/resume");
		},
	};
}
