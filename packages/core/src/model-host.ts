import {
	type BatchingOptions,
	createBatchingPredictor,
} from "./batching-predictor.ts";
import type { BundleManifest } from "./bundle-manifest.ts";
import { CoreError } from "./errors.ts";
import {
	loadBundle,
	type ModelBundle,
	readManifestName,
} from "./load-bundle.ts";
import type { Model } from "./load-onnx-model.ts";
import { loadBundleModel } from "./load-predictor.ts";
import { createPredictor, type Predictor } from "./predictor.ts";

/** A model being served: one version of one bundle with its live predictor. */
export interface HostedModel {
	readonly name: string;
	readonly version: string;
	readonly manifest: BundleManifest;
	readonly predictor: Predictor;
	/** Folder it was loaded from. */
	readonly dir: string;
	readonly loadedAt: Date;
	/** Wall time of read + verify + session create + warm-up. */
	readonly loadMs: number;
}

/** Options of a {@link ModelHost}. */
export interface ModelHostOptions {
	/** Merge concurrent requests per model (see `createBatchingPredictor`); off when absent. */
	batching?: Omit<BatchingOptions, "onBatch">;
	intraOpNumThreads?: number;
}

/** What a {@link ModelHost} tells its listeners (metrics, logs). */
export interface ModelHostListener {
	/** After every model run of a batching predictor. */
	onBatch?: (model: HostedModel, rows: number, requests: number) => void;
	/** After every successful load and every unload. */
	onChange?: (event: { type: "load" | "unload"; model: HostedModel }) => void;
}

/** Options of {@link ModelHost.load}. */
export interface LoadModelOptions {
	/** Keep the other loaded versions of the same model name (default false: the new version replaces them). */
	keepOtherVersions?: boolean;
}

/**
 * Checks that the model agrees with its manifest before it serves: it takes the features' width of input
 * and gives one probability per label, for more than one row. A manifest whose labels were added or
 * removed would otherwise fail every request, or misalign batched rows. Closes the model when it does not.
 */
async function checkModelShape(
	model: Model,
	manifest: BundleManifest,
	dir: string,
): Promise<void> {
	const columns = manifest.model.input.columns;
	const labels = manifest.target.labels.length;
	const rows = 2;
	let problem: string | undefined;
	try {
		const output = await model.run({
			data: new Float32Array(rows * columns),
			rows,
			columns,
		});
		if (output.length !== rows * labels)
			problem = `the model gives ${output.length / rows} values per row but mdp.json lists ${labels} labels`;
	} catch (error) {
		problem = `the model does not take ${columns} input columns (the features' width in mdp.json): ${(error as Error).message}`;
	}
	if (problem === undefined) return;
	await model.close();
	throw new CoreError("MODEL_LOAD_FAILED", `${dir}: ${problem}`);
}

interface Entry {
	model: HostedModel;
	inFlight: number;
	retired: boolean;
}

/**
 * Holds the live models and swaps them atomically: a new bundle is read, verified and warmed up before it
 * replaces anything, so a failed load leaves the old model serving; requests in flight finish on the model
 * they started on, which is closed only after the last of them. This is what makes a deployment dynamic:
 * the model changes without restarting the application.
 */
export class ModelHost {
	readonly #options: ModelHostOptions;
	/** name → version → entry, versions in load order (the last is the default). */
	readonly #models = new Map<string, Map<string, Entry>>();
	/** The tail of the load queue (see {@link ModelHost.load}). */
	#loads: Promise<unknown> = Promise.resolve();
	readonly #lastError = new Map<string, string>();
	readonly #listeners = new Set<ModelHostListener>();

	constructor(options: ModelHostOptions = {}) {
		this.#options = options;
	}

	/** Subscribes to batch and load/unload events; returns the unsubscribe function. */
	addListener(listener: ModelHostListener): () => void {
		this.#listeners.add(listener);
		return () => this.#listeners.delete(listener);
	}

	/** Loads the bundle in `dir` and makes it the default version of its model; resolves once it serves. */
	async load(
		dir: string,
		options: LoadModelOptions = {},
	): Promise<HostedModel> {
		// Loads run one after the other in the order they were asked for, so two swaps never interleave and
		// the last one asked for wins. The place in line is taken before anything is read: reading a large
		// bundle takes longer than a small one, and must not let a later load overtake an earlier one.
		const task = this.#loads
			.catch(() => {})
			.then(() => this.#loadNow(dir, options));
		this.#loads = task;
		return task;
	}

	async #loadNow(dir: string, options: LoadModelOptions): Promise<HostedModel> {
		const started = performance.now();
		let bundle: ModelBundle;
		try {
			bundle = await loadBundle(dir);
		} catch (error) {
			const name = await readManifestName(dir).catch(() => undefined);
			if (name) this.#lastError.set(name, (error as Error).message);
			throw error;
		}
		try {
			return await this.#swapIn(dir, bundle, started, options);
		} catch (error) {
			this.#lastError.set(bundle.manifest.name, (error as Error).message);
			throw error;
		}
	}

	async #swapIn(
		dir: string,
		bundle: ModelBundle,
		started: number,
		options: LoadModelOptions,
	): Promise<HostedModel> {
		const { manifest } = bundle;
		const model = await loadBundleModel(bundle, {
			intraOpNumThreads: this.#options.intraOpNumThreads,
		});
		await checkModelShape(model, manifest, dir);
		const { batching } = this.#options;
		let hosted: HostedModel | undefined;
		const predictor = batching
			? createBatchingPredictor({
					manifest,
					model,
					...batching,
					onBatch: (rows, requests) => {
						for (const l of this.#listeners)
							if (hosted) l.onBatch?.(hosted, rows, requests);
					},
				})
			: createPredictor({ manifest, model });
		hosted = {
			name: manifest.name,
			version: manifest.version,
			manifest,
			predictor,
			dir,
			loadedAt: new Date(),
			loadMs: performance.now() - started,
		};
		const versions =
			this.#models.get(manifest.name) ?? new Map<string, Entry>();
		const replaced = [...versions.values()].filter(
			(e) =>
				options.keepOtherVersions !== true ||
				e.model.version === manifest.version,
		);
		for (const entry of replaced) versions.delete(entry.model.version);
		versions.set(manifest.version, {
			model: hosted,
			inFlight: 0,
			retired: false,
		});
		this.#models.set(manifest.name, versions);
		this.#lastError.delete(manifest.name);
		for (const entry of replaced) await this.#retire(entry);
		for (const l of this.#listeners)
			l.onChange?.({ type: "load", model: hosted });
		return hosted;
	}

	/** Stops serving a model (all versions, or one); in-flight requests finish first. Returns false if unknown. */
	async unload(name: string, version?: string): Promise<boolean> {
		const versions = this.#models.get(name);
		const entries = [...(versions?.values() ?? [])].filter(
			(e) => version === undefined || e.model.version === version,
		);
		if (!versions || entries.length === 0) return false;
		for (const entry of entries) versions.delete(entry.model.version);
		if (versions.size === 0) this.#models.delete(name);
		for (const entry of entries) {
			await this.#retire(entry);
			for (const l of this.#listeners)
				l.onChange?.({ type: "unload", model: entry.model });
		}
		return true;
	}

	/** The model of that name and version (default: the most recently loaded version), if served. */
	resolve(name: string, version?: string): HostedModel | undefined {
		const versions = this.#models.get(name);
		if (!versions) return undefined;
		if (version !== undefined) return versions.get(version)?.model;
		return [...versions.values()].at(-1)?.model;
	}

	/** The model requests without a name go to: the first model name loaded, at its default version. */
	defaultModel(): HostedModel | undefined {
		const first = this.#models.keys().next();
		return first.done ? undefined : this.resolve(first.value);
	}

	/** Every served model version. */
	list(): HostedModel[] {
		return [...this.#models.values()].flatMap((versions) =>
			[...versions.values()].map((e) => e.model),
		);
	}

	/** Versions served for a name, in load order. */
	versions(name: string): string[] {
		return [...(this.#models.get(name)?.keys() ?? [])];
	}

	/** Why the last load of a model name failed, if it did and nothing has loaded since. */
	lastError(name: string): string | undefined {
		return this.#lastError.get(name);
	}

	/** Whether any model is served. */
	get ready(): boolean {
		return this.#models.size > 0;
	}

	/**
	 * Runs `fn` with the model's predictor, keeping the model alive until it settles even if it is
	 * swapped out meanwhile.
	 */
	use<T>(
		model: HostedModel,
		fn: (predictor: Predictor) => Promise<T>,
	): Promise<T> {
		const entry = this.#models.get(model.name)?.get(model.version);
		if (!entry || entry.model !== model) {
			return Promise.reject(
				new CoreError(
					"NOT_FOUND",
					`model "${model.name}" version "${model.version}" is no longer served`,
				),
			);
		}
		entry.inFlight++;
		// A promise chain rather than async/await with finally: this runs on every request.
		const settle = (): Promise<void> | undefined => {
			entry.inFlight--;
			if (entry.retired && entry.inFlight === 0)
				return entry.model.predictor.close();
			return undefined;
		};
		let work: Promise<T>;
		try {
			work = fn(entry.model.predictor);
		} catch (error) {
			work = Promise.reject(error);
		}
		return work.then(
			(result) => {
				const closing = settle();
				return closing ? closing.then(() => result) : result;
			},
			(error: unknown) => {
				const closing = settle();
				if (closing)
					return closing.then(() => {
						throw error;
					});
				throw error;
			},
		);
	}

	/** Unloads everything, waiting for in-flight requests. */
	async close(): Promise<void> {
		for (const name of [...this.#models.keys()]) await this.unload(name);
	}

	async #retire(entry: Entry): Promise<void> {
		entry.retired = true;
		if (entry.inFlight === 0) await entry.model.predictor.close();
	}
}
