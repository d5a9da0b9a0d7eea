import {
	cp,
	mkdtemp,
	readFile,
	rm,
	symlink,
	writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadBundle } from "./load-bundle.ts";
import { referenceBundleDir } from "./reference-bundle.ts";
import { writeBundle } from "./write-bundle.ts";

// biome-ignore lint/suspicious/noExplicitAny: the tests below damage arbitrary fields of parsed JSON.
type Json = any;

let dir: string;
beforeEach(async () => {
	dir = await mkdtemp(join(tmpdir(), "mdp-bundle-"));
	await cp(referenceBundleDir, dir, { recursive: true });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function editManifest(edit: (manifest: Record<string, unknown>) => void) {
	const path = join(dir, "mdp.json");
	const manifest = JSON.parse(await readFile(path, "utf8"));
	edit(manifest);
	await writeFile(path, JSON.stringify(manifest));
}

describe("loadBundle", () => {
	it("loads the reference bundle and checks its hash", async () => {
		const bundle = await loadBundle(dir);
		expect(bundle.manifest.name).toBe("penguins");
		expect(bundle.manifest.target.labels).toEqual([
			"Adelie",
			"Chinstrap",
			"Gentoo",
		]);
		expect(bundle.modelBytes.byteLength).toBeGreaterThan(0);
	});

	it("refuses a model with one changed byte, naming both files", async () => {
		const path = join(dir, "model.onnx");
		const bytes = await readFile(path);
		bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 0x01;
		await writeFile(path, bytes);
		await expect(loadBundle(dir)).rejects.toMatchObject({
			code: "INVALID_BUNDLE",
			message: expect.stringMatching(
				/model\.onnx: sha256 is [0-9a-f]{64} but .*mdp\.json field model\.sha256 says/,
			),
		});
	});

	it("names the missing file", async () => {
		await rm(join(dir, "model.onnx"));
		await expect(loadBundle(dir)).rejects.toMatchObject({
			code: "INVALID_BUNDLE",
			message: expect.stringMatching(/model\.onnx: file not found$/),
		});
		await expect(loadBundle(join(dir, "nowhere"))).rejects.toThrow(
			/nowhere\/mdp\.json: file not found/,
		);
	});

	it("refuses mdp.json that is not JSON", async () => {
		await writeFile(join(dir, "mdp.json"), "{ name: penguins");
		await expect(loadBundle(dir)).rejects.toThrow(/mdp\.json: not valid JSON/);
	});

	it.each([
		[
			"a field of the wrong type",
			(m: Json) => (m.features[1].mean = "zero"),
			/field features\[1\]\.mean: .*expected number/,
		],
		[
			"a missing field",
			(m: Json) => delete m.target,
			/field target: .*expected object/,
		],
		[
			"an unknown feature kind",
			(m: Json) => (m.features[0].kind = "text"),
			/field features\[0\]\.kind/,
		],
		[
			"a bad hash",
			(m: Json) => (m.model.sha256 = "abc"),
			/field model\.sha256: 64 lower-case hex digits/,
		],
		[
			"a column count that does not match the features",
			(m: Json) => (m.model.input.columns = 8),
			/field model\.input\.columns: the features make 9 columns/,
		],
		[
			"duplicate labels",
			(m: Json) => (m.target.labels = ["a", "a", "b"]),
			/field target\.labels: duplicate label/,
		],
		[
			"an imputed category that does not exist",
			(m: Json) => (m.features[5].missing = { strategy: "impute", value: "X" }),
			/field features\[5\]\.missing\.value/,
		],
		[
			"a non-positive std",
			(m: Json) => (m.features[1].std = 0),
			/field features\[1\]\.std/,
		],
	])(
		"refuses malformed mdp.json: %s, naming the field",
		async (_name, edit, message) => {
			await editManifest(edit);
			await expect(loadBundle(dir)).rejects.toMatchObject({
				code: "INVALID_BUNDLE",
				message: expect.stringMatching(message),
			});
		},
	);
});

describe("bundle files that are links (issue 14)", () => {
	it("refuses an mdp.json linked to a system file, without echoing its contents", async () => {
		await rm(join(dir, "mdp.json"));
		await symlink("/etc/passwd", join(dir, "mdp.json"));
		const error = await loadBundle(dir).catch((e: Error) => e);
		expect(error).toMatchObject({
			code: "INVALID_BUNDLE",
			message: expect.stringMatching(/mdp\.json: is a symbolic link/),
		});
		expect((error as Error).message).not.toMatch(/root/);
	});

	it("refuses a model.onnx linked outside the bundle", async () => {
		const outside = await mkdtemp(join(tmpdir(), "mdp-outside-"));
		try {
			await cp(join(dir, "model.onnx"), join(outside, "model.onnx"));
			await rm(join(dir, "model.onnx"));
			await symlink(join(outside, "model.onnx"), join(dir, "model.onnx"));
			await expect(loadBundle(dir)).rejects.toMatchObject({
				code: "INVALID_BUNDLE",
				message: expect.stringMatching(/model\.onnx: is a symbolic link/),
			});
		} finally {
			await rm(outside, { recursive: true, force: true });
		}
	});

	it("never echoes the text of an mdp.json that is not JSON", async () => {
		await writeFile(join(dir, "mdp.json"), "root:x:0:0:root:/root:/bin/bash\n");
		const error = await loadBundle(dir).catch((e: Error) => e);
		expect((error as Error).message).toMatch(/mdp\.json: not valid JSON/);
		expect((error as Error).message).not.toMatch(/root|bash/);
	});
});

describe("the bundle digest (issue 14, defect 6)", () => {
	async function written() {
		const { manifest, modelBytes } = await loadBundle(dir);
		const out = join(dir, "written");
		await writeBundle(out, { manifest, modelBytes });
		return out;
	}

	it("is written by writeBundle and loads", async () => {
		const out = await written();
		expect((await readFile(join(out, "bundle.sha256"), "utf8")).trim()).toMatch(
			/^[0-9a-f]{64}$/,
		);
		expect((await loadBundle(out)).manifest.target.labels).toEqual([
			"Adelie",
			"Chinstrap",
			"Gentoo",
		]);
	});

	it.each([
		["labels reordered", (m: Json) => m.target.labels.reverse()],
		["a description changed", (m: Json) => (m.description = "tampered")],
	])("refuses a manifest with %s after writing", async (_name, edit) => {
		const out = await written();
		const path = join(out, "mdp.json");
		const manifest = JSON.parse(await readFile(path, "utf8"));
		edit(manifest);
		await writeFile(path, `${JSON.stringify(manifest, null, 2)}\n`);
		await expect(loadBundle(out)).rejects.toMatchObject({
			code: "INVALID_BUNDLE",
			message: expect.stringMatching(
				/the bundle digest is [0-9a-f]{64} but bundle\.sha256 says [0-9a-f]{64}; mdp\.json or model\.onnx was changed/,
			),
		});
	});

	it("refuses a digest file that is a link", async () => {
		const out = await written();
		await rm(join(out, "bundle.sha256"));
		await symlink("/etc/hostname", join(out, "bundle.sha256"));
		await expect(loadBundle(out)).rejects.toThrow(
			/bundle\.sha256: is a symbolic link/,
		);
	});
});
