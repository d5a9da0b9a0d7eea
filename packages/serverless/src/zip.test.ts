import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { extractZip, readZipEntries, zipFiles } from "./zip.ts";

const text = (s: string) => new TextEncoder().encode(s);

describe("zipFiles", () => {
	const dirs: string[] = [];
	afterEach(async () => {
		for (const d of dirs.splice(0))
			await rm(d, { recursive: true, force: true });
	});

	it("gives the same bytes whatever the input order, with sorted entries", () => {
		const a = { name: "b/file.txt", data: text("bee"), executable: false };
		const b = { name: "a.txt", data: text("ay"), executable: false };
		const c = {
			name: "bootstrap",
			data: text("#!/bin/sh\n"),
			executable: true,
		};
		const one = zipFiles([a, b, c]);
		const two = zipFiles([c, a, b]);
		expect(Buffer.from(one).equals(Buffer.from(two))).toBe(true);
		expect(readZipEntries(one).map((e) => e.name)).toEqual([
			"a.txt",
			"b/file.txt",
			"bootstrap",
		]);
	});

	it("changes when a byte of content changes", () => {
		const one = zipFiles([{ name: "x", data: text("1"), executable: false }]);
		const two = zipFiles([{ name: "x", data: text("2"), executable: false }]);
		expect(Buffer.from(one).equals(Buffer.from(two))).toBe(false);
	});

	it("keeps 0755 for executables and 0644 for the rest, through extraction", async () => {
		const zip = zipFiles([
			{
				name: "bootstrap",
				data: text("#!/bin/sh\necho hi\n"),
				executable: true,
			},
			{ name: "lib/data.json", data: text("{}"), executable: false },
		]);
		expect(
			readZipEntries(zip).map((e) => [e.name, e.mode.toString(8)]),
		).toEqual([
			["bootstrap", "755"],
			["lib/data.json", "644"],
		]);
		const dir = await mkdtemp(join(tmpdir(), "mdp-zip-test-"));
		dirs.push(dir);
		await extractZip(zip, dir);
		expect((await stat(join(dir, "bootstrap"))).mode & 0o777).toBe(0o755);
		expect((await stat(join(dir, "lib/data.json"))).mode & 0o777).toBe(0o644);
		expect(await readFile(join(dir, "lib/data.json"), "utf8")).toBe("{}");
	});

	it("stores the fixed 1980-01-01 date, so the build time does not leak into the bytes", () => {
		const zip = zipFiles([{ name: "x", data: text("1"), executable: false }]);
		const view = new DataView(zip.buffer, zip.byteOffset);
		// Local file header: mod time at 10, mod date at 12 (DOS format: (1980-1980)<<9 | 1<<5 | 1 = 33).
		expect([view.getUint16(10, true), view.getUint16(12, true)]).toEqual([
			0, 33,
		]);
	});

	it("refuses entries that would escape the target folder", async () => {
		const zip = zipFiles([
			{ name: "../escape.txt", data: text("x"), executable: false },
		]);
		const dir = await mkdtemp(join(tmpdir(), "mdp-zip-test-"));
		dirs.push(dir);
		await expect(
			extractZip(zip, join(dir, "inner"), "evil.zip"),
		).rejects.toThrow(
			/evil.zip: entry "..\/escape.txt" would be written outside/,
		);
	});

	it("says a file that is not a zip is not one", () => {
		expect(() =>
			readZipEntries(text("just text, no zip"), "notes.txt"),
		).toThrow(/notes.txt is not a zip file/);
	});
});
