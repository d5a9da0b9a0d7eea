import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
	createFeatureExtractor,
	parseBundleManifest,
	referenceBundleDir,
} from "@mdp/core";
import { describe, expect, it } from "vitest";
import { warmUpEvent, warmUpRecord } from "./warm-up.ts";

const manifest = parseBundleManifest(
	JSON.parse(await readFile(join(referenceBundleDir, "mdp.json"), "utf8")),
);

describe("warm-up request", () => {
	it("builds a record the reference model takes with no imputation, range or category warning", () => {
		const record = warmUpRecord(manifest);
		expect(Object.keys(record)).toEqual(manifest.features.map((f) => f.name));
		const extractor = createFeatureExtractor(manifest.features);
		expect(extractor.check(record)).toEqual([]);
		const batch = extractor.extract([record]);
		expect(batch.rows).toBe(1);
		expect(extractor.drift.imputed.every((n) => n === 0)).toBe(true);
		expect(extractor.drift.outOfRange.every((n) => n === 0)).toBe(true);
		expect(extractor.drift.unseen.every((n) => n === 0)).toBe(true);
	});

	it("uses each feature's own categories and means, whatever the model", () => {
		const features = manifest.features.map((f) =>
			f.kind === "categorical"
				? { ...f, categories: ["zeta", ...f.categories] }
				: { ...f, mean: f.mean + 1 },
		);
		const record = warmUpRecord({ ...manifest, features });
		for (const f of features)
			expect(record[f.name]).toBe(f.kind === "categorical" ? "zeta" : f.mean);
	});

	it("is a function URL event (payload 2.0) for a JSON POST to the path", () => {
		const event = warmUpEvent("/predict", '{"records":[]}');
		expect(event).toMatchObject({
			version: "2.0",
			rawPath: "/predict",
			rawQueryString: "",
			headers: { "content-type": "application/json" },
			requestContext: { http: { method: "POST", path: "/predict" } },
			body: '{"records":[]}',
			isBase64Encoded: false,
		});
		expect(event.requestContext.time).toMatch(
			/^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/,
		);
	});
});
