import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readGoldenSet } from "./golden.ts";
import { loadBundle } from "./load-bundle.ts";
import { ModelHost } from "./model-host.ts";
import { referenceBundleDir } from "./reference-bundle.ts";
import { synthesizeBundle } from "./training/index.ts";
import { writeBundle } from "./write-bundle.ts";

let dir: string;
let host: ModelHost;
beforeEach(async () => {
	dir = await mkdtemp(join(tmpdir(), "mdp-host-"));
	host = new ModelHost();
});
afterEach(async () => {
	await host.close();
	await rm(dir, { recursive: true, force: true });
});

/** A copy of the reference bundle under another version, written whole (manifest, model, digest). */
async function version(v: string, from = referenceBundleDir): Promise<string> {
	const out = join(dir, v);
	const { manifest, modelBytes } = await loadBundle(from);
	await writeBundle(out, {
		manifest: { ...manifest, name: "penguins", version: v },
		modelBytes,
	});
	return out;
}

const record = {
	Island: "Biscoe",
	"Beak Length (mm)": 47.3,
	"Beak Depth (mm)": 13.8,
	"Flipper Length (mm)": 216,
	"Body Mass (g)": 4725,
	Sex: "FEMALE",
};

describe("ModelHost", () => {
	it("serves a loaded bundle and reports readiness", async () => {
		expect(host.ready).toBe(false);
		const model = await host.load(referenceBundleDir);
		expect(host.ready).toBe(true);
		expect(model.loadMs).toBeGreaterThan(0);
		expect(host.defaultModel()).toBe(model);
		const [p] = await host.use(model, (predictor) =>
			predictor.predict([record]),
		);
		expect(p?.label).toBe("Gentoo");
	});

	it("swaps in a new version atomically and the new one becomes the default", async () => {
		const v1 = await host.load(await version("1.0.0"));
		const v2 = await host.load(await version("2.0.0"));
		expect(host.resolve("penguins")).toBe(v2);
		expect(host.resolve("penguins", "1.0.0")).toBeUndefined();
		await expect(host.use(v1, async () => 1)).rejects.toMatchObject({
			code: "NOT_FOUND",
		});
	});

	it("keeps other versions when asked", async () => {
		await host.load(await version("1.0.0"));
		await host.load(await version("2.0.0"), { keepOtherVersions: true });
		expect(host.versions("penguins")).toEqual(["1.0.0", "2.0.0"]);
		expect(host.resolve("penguins", "1.0.0")?.version).toBe("1.0.0");
		expect(await host.unload("penguins", "2.0.0")).toBe(true);
		expect(host.resolve("penguins")?.version).toBe("1.0.0");
	});

	it("keeps the old model serving when a load fails, and remembers why", async () => {
		const good = await host.load(referenceBundleDir);
		const bad = await version("9.9.9");
		await writeFile(join(bad, "model.onnx"), "not a model");
		await expect(host.load(bad)).rejects.toMatchObject({
			code: "INVALID_BUNDLE",
		});
		expect(host.resolve("penguins")).toBe(good);
		expect(host.lastError("penguins")).toMatch(/sha256/);
		const [p] = await host.use(good, (predictor) =>
			predictor.predict([record]),
		);
		expect(p?.label).toBe("Gentoo");
	});

	it("lets requests in flight finish on the model they started on", async () => {
		const v1 = await host.load(await version("1.0.0"));
		let release: () => void = () => {};
		const gate = new Promise<void>((r) => {
			release = r;
		});
		const inFlight = host.use(v1, async (predictor) => {
			await gate;
			return predictor.predict([record]);
		});
		await host.load(await version("2.0.0"));
		release();
		const [p] = await inFlight;
		expect(p?.label).toBe("Gentoo");
		// Once the last request is done, the old session is released.
		await expect(v1.predictor.predict([record])).rejects.toThrow();
	});

	it("serialises concurrent loads of one model: the last one wins", async () => {
		// The first load is of a 20 MB model, far slower to load than the second: without serialisation
		// the second would finish first and the first would then replace it.
		const big = join(dir, "big");
		await synthesizeBundle({
			out: big,
			sizeBytes: 20e6,
			from: referenceBundleDir,
		});
		const slow = await version("1.0.0", big);
		const fast = await version("2.0.0");
		const [a, b] = await Promise.all([host.load(slow), host.load(fast)]);
		expect([a.version, b.version]).toEqual(["1.0.0", "2.0.0"]);
		expect(host.list().map((m) => m.version)).toEqual(["2.0.0"]);
		const golden = await readGoldenSet(
			join(referenceBundleDir, "golden.jsonl"),
		);
		expect(await host.use(b, (p) => p.predict([golden[0]?.record]))).toEqual([
			golden[0]?.expected,
		]);
	});
});

describe("a hot-loaded manifest that does not match its model (issue 14, defect 6)", () => {
	it.each([
		[
			"a label added",
			(labels: string[]) => [...labels, "Emperor"],
			/gives 3 values per row but mdp.json lists 4 labels/,
		],
		[
			"a label removed",
			(labels: string[]) => labels.slice(0, 2),
			/gives 3 values per row but mdp.json lists 2 labels/,
		],
	])(
		"with %s is refused and the old version keeps serving",
		async (_name, edit, message) => {
			const v1 = await host.load(await version("1.0.0"));
			// Written whole (its digest matches): only the warm-up can see the labels do not fit the model.
			const bad = join(dir, "bad-labels");
			const { manifest, modelBytes } = await loadBundle(referenceBundleDir);
			await writeBundle(bad, {
				manifest: {
					...manifest,
					version: "2.0.0",
					target: { ...manifest.target, labels: edit(manifest.target.labels) },
				},
				modelBytes,
			});
			await expect(host.load(bad)).rejects.toMatchObject({
				code: "MODEL_LOAD_FAILED",
				message: expect.stringMatching(message),
			});
			expect(host.resolve("penguins")).toBe(v1);
			const [p] = await host.use(v1, (predictor) =>
				predictor.predict([record]),
			);
			expect(p?.label).toBe("Gentoo");
		},
	);
});
