// The in-browser predictor page. Everything is fetched while the page loads (model, manifest, wasm
// runtime); after that, features, inference and rendering are local and the page makes no request.
import {
	type BundleManifest,
	createPredictor,
	type FeatureSpec,
	isCoreError,
	type Model,
	type Prediction,
} from "@mdp/core";
import * as ort from "onnxruntime-web/wasm";

declare global {
	interface Window {
		/** For tests and the curious: predict records with the page's model. */
		mdp?: {
			predict(records: unknown[]): Promise<Prediction[]>;
			manifest: BundleManifest;
			loadMs: number;
		};
	}
}

const $ = <T extends HTMLElement>(selector: string) =>
	document.querySelector(selector) as T;

async function fetchBytes(path: string): Promise<Uint8Array> {
	const res = await fetch(path);
	if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
	return new Uint8Array(await res.arrayBuffer());
}

async function createWasmModel(
	manifest: BundleManifest,
	bytes: Uint8Array,
): Promise<Model> {
	// One thread: no workers, no SharedArrayBuffer, so the page needs no cross-origin isolation headers.
	ort.env.wasm.numThreads = 1;
	ort.env.wasm.wasmBinary = await fetchBytes("./ort-wasm-simd-threaded.wasm");
	const session = await ort.InferenceSession.create(bytes, {
		executionProviders: ["wasm"],
	});
	const { input, output } = manifest.model;
	return {
		async run(batch) {
			const results = await session.run({
				[input.name]: new ort.Tensor("float32", batch.data, [
					batch.rows,
					batch.columns,
				]),
			});
			return results[output.name]?.data as Float32Array;
		},
		close: () => session.release(),
	};
}

function field(feature: FeatureSpec): HTMLElement {
	const wrapper = document.createElement("label");
	wrapper.className = "field";
	const optional = feature.missing.strategy !== "error";
	const title = document.createElement("span");
	title.textContent = feature.name;
	if (!optional)
		title.insertAdjacentHTML("beforeend", ' <abbr title="required">*</abbr>');
	wrapper.append(title);
	if (feature.kind === "numeric") {
		const input = document.createElement("input");
		input.type = "number";
		input.step = "any";
		input.name = feature.name;
		input.placeholder = `${feature.stats.min} – ${feature.stats.max}`;
		input.required = !optional;
		wrapper.append(input);
	} else {
		const select = document.createElement("select");
		select.name = feature.name;
		select.required = !optional;
		select.add(new Option(optional ? "unknown" : "choose…", ""));
		for (const category of feature.categories)
			select.add(new Option(category, category));
		wrapper.append(select);
	}
	const error = document.createElement("small");
	error.className = "error";
	error.dataset.errorFor = feature.name;
	wrapper.append(error);
	return wrapper;
}

function readRecord(
	form: HTMLFormElement,
	features: readonly FeatureSpec[],
): Record<string, unknown> {
	const data = new FormData(form);
	const record: Record<string, unknown> = {};
	for (const f of features) {
		const raw = String(data.get(f.name) ?? "").trim();
		record[f.name] =
			raw === "" ? null : f.kind === "numeric" ? Number(raw) : raw;
	}
	return record;
}

function show(prediction: Prediction): void {
	const result = $("#result");
	result.hidden = false;
	$("#label").textContent = prediction.label;
	result.dataset.label = prediction.label;
	result.dataset.probabilities = JSON.stringify(prediction.probabilities);
	const bars = $("#bars");
	bars.replaceChildren(
		...Object.entries(prediction.probabilities).map(([label, p]) => {
			const row = document.createElement("div");
			row.className = `bar${label === prediction.label ? " top" : ""}`;
			row.innerHTML = `<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>`;
			(row.querySelector(".name") as HTMLElement).textContent = label;
			(row.querySelector(".fill") as HTMLElement).style.width =
				`${(p * 100).toFixed(1)}%`;
			(row.querySelector(".pct") as HTMLElement).textContent =
				`${(p * 100).toFixed(p < 0.001 ? 3 : 1)}%`;
			return row;
		}),
	);
}

async function start(): Promise<void> {
	const started = performance.now();
	const [manifest, modelBytes] = await Promise.all([
		fetch("./mdp.json").then((r) => r.json() as Promise<BundleManifest>),
		fetchBytes("./model.onnx"),
	]);
	const predictor = createPredictor({
		manifest,
		model: await createWasmModel(manifest, modelBytes),
	});
	const form = $<HTMLFormElement>("#form");
	$("#fields").replaceChildren(...manifest.features.map(field));
	$("#model").textContent =
		`${manifest.name} ${manifest.version} · ${manifest.target.labels.join(", ")}`;
	form.addEventListener("submit", async (event) => {
		event.preventDefault();
		for (const e of document.querySelectorAll<HTMLElement>(".error"))
			e.textContent = "";
		try {
			const [prediction] = await predictor.predict([
				readRecord(form, manifest.features),
			]);
			if (prediction) show(prediction);
		} catch (error) {
			if (!isCoreError(error)) throw error;
			for (const issue of error.issues) {
				const target = document.querySelector<HTMLElement>(
					`[data-error-for="${CSS.escape(issue.field)}"]`,
				);
				if (target) target.textContent = `expected ${issue.expected}`;
			}
		}
	});
	const loadMs = performance.now() - started;
	window.mdp = {
		predict: (records) => predictor.predict(records),
		manifest,
		loadMs,
	};
	$("#status").textContent =
		`Model loaded in ${Math.round(loadMs)} ms. From here on everything runs in this page: it works offline, and nothing you type leaves your device.`;
	$<HTMLButtonElement>("#predict").disabled = false;
	document.body.dataset.ready = "true";
}

start().catch((error: unknown) => {
	$("#status").textContent =
		`Could not load the model: ${(error as Error).message}`;
	document.body.dataset.ready = "error";
});
