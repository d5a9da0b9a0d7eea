import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import {
	compareToGolden,
	type GoldenCase,
	type Prediction,
	readGoldenSet,
	referenceBundleDir,
} from "@mdp/core";
import { runsWith, testArtifactsDir } from "@mdp/core/testing";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildWebPage } from "../src/index.ts";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const hasChromium = runsWith(
	"chromium",
	spawnSync(CHROMIUM, ["--version"]).status === 0,
);
const docs = testArtifactsDir();
const TYPES: Record<string, string> = {
	".html": "text/html",
	".js": "text/javascript",
	".wasm": "application/wasm",
	".json": "application/json",
};

let dir: string;
let server: Server;
let url: string;
let browser: Browser;
let golden: GoldenCase[];

/** A plain static file server on loopback, as any web host would serve the folder. */
async function serve(root: string): Promise<string> {
	server = createServer(async (req, res) => {
		const path = normalize(
			join(
				root,
				new URL(req.url ?? "/", "http://x").pathname === "/"
					? "index.html"
					: new URL(req.url ?? "/", "http://x").pathname,
			),
		);
		if (!path.startsWith(root)) return void res.writeHead(403).end();
		try {
			const body = await readFile(path);
			res
				.writeHead(200, {
					"content-type": TYPES[extname(path)] ?? "application/octet-stream",
				})
				.end(body);
		} catch {
			res.writeHead(404).end();
		}
	});
	await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
	return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

beforeAll(async () => {
	if (!hasChromium) return;
	dir = await mkdtemp(join(tmpdir(), "mdp-web-"));
	const page = await buildWebPage({
		bundle: referenceBundleDir,
		out: join(dir, "site"),
	});
	url = await serve(page.path);
	golden = await readGoldenSet(join(referenceBundleDir, "golden.jsonl"));
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		// Debian's Chromium as root, on a machine with no internet: no sandbox, no background networking.
		args: [
			"--no-sandbox",
			"--disable-gpu",
			"--disable-quic",
			"--no-first-run",
			"--disable-background-networking",
			"--disable-component-update",
			"--disable-sync",
		],
	});
});
afterAll(async () => {
	await browser?.close();
	await new Promise((r) => (server ? server.close(r) : r(undefined)));
	if (dir) await rm(dir, { recursive: true, force: true });
});

/** Opens the page, waits until the model is loaded, then cuts the network and records any request. */
async function openOffline(viewport: {
	width: number;
	height: number;
}): Promise<{ page: Page; requestsAfterLoad: string[]; loadMs: number }> {
	const context = await browser.newContext({ viewport });
	const page = await context.newPage();
	const started = performance.now();
	await page.goto(url);
	await page.waitForFunction(
		() => document.body.dataset.ready !== undefined,
		undefined,
		{ timeout: 60_000 },
	);
	const loadMs = performance.now() - started;
	expect(await page.evaluate(() => document.body.dataset.ready)).toBe("true");
	const requestsAfterLoad: string[] = [];
	page.on("request", (r) => requestsAfterLoad.push(r.url()));
	await context.setOffline(true);
	return { page, requestsAfterLoad, loadMs };
}

async function fill(
	page: Page,
	record: Record<string, unknown>,
): Promise<void> {
	for (const [name, value] of Object.entries(record)) {
		const selector = `[name="${name}"]`;
		const tag = await page.$eval(selector, (e) => e.tagName);
		// The page offers "unknown" (empty) for a missing value; "." is the data set's own missing marker.
		const text = value === null || value === "." ? "" : String(value);
		if (tag === "SELECT") await page.selectOption(selector, text);
		else await page.fill(selector, text);
	}
}

describe.runIf(hasChromium)(
	"the browser page (real Chromium, offline after load)",
	() => {
		it("predicts the golden species from the form, with the network cut and no request after load", async () => {
			const { page, requestsAfterLoad, loadMs } = await openOffline({
				width: 1280,
				height: 800,
			});
			const cases = golden.filter((_, i) => i % 10 === 0);
			for (const g of cases) {
				await fill(page, g.record);
				await page.click("#predict");
				await page.waitForFunction(
					(label) =>
						document.querySelector<HTMLElement>("#result")?.dataset.label ===
						label,
					g.expected.label,
				);
				const shown = JSON.parse(
					(await page.getAttribute("#result", "data-probabilities")) ?? "{}",
				) as Prediction["probabilities"];
				expect(
					compareToGolden(
						[g],
						[{ label: g.expected.label, probabilities: shown }],
						1e-5,
					),
					g.id,
				).toEqual([]);
			}
			expect(await page.textContent("#label")).toBe(
				cases.at(-1)?.expected.label,
			);
			await mkdir(docs, { recursive: true });
			await page.screenshot({
				path: join(docs, "web-page.png"),
				fullPage: true,
			});
			expect(requestsAfterLoad).toEqual([]);
			expect(loadMs).toBeGreaterThan(0);
		});

		it("reproduces the whole golden set within 1e-5 (wasm runtime) in the page", async () => {
			const { page, requestsAfterLoad } = await openOffline({
				width: 1280,
				height: 800,
			});
			const predictions = await page.evaluate(
				(records) =>
					(
						window as unknown as {
							mdp: { predict(r: unknown[]): Promise<Prediction[]> };
						}
					).mdp.predict(records),
				golden.map((g) => g.record),
			);
			expect(compareToGolden(golden, predictions ?? [], 1e-5)).toEqual([]);
			expect(requestsAfterLoad).toEqual([]);
		});

		it("shows which field is wrong instead of predicting", async () => {
			const { page } = await openOffline({ width: 1280, height: 800 });
			await fill(page, { ...(golden[0]?.record ?? {}), Island: "" });
			await page.click("#predict");
			await page.waitForFunction(
				() =>
					(document.querySelector('[data-error-for="Island"]')?.textContent ??
						"") !== "",
			);
			expect(await page.textContent('[data-error-for="Island"]')).toMatch(
				/expected one of "Biscoe", "Dream", "Torgersen"/,
			);
		});

		it("fits a phone-width screen", async () => {
			const { page } = await openOffline({ width: 390, height: 844 });
			await fill(page, golden[3]?.record ?? {});
			await page.click("#predict");
			await page.waitForFunction(
				() =>
					document.querySelector<HTMLElement>("#result")?.dataset.label !==
					undefined,
			);
			const overflow = await page.evaluate(
				() =>
					document.documentElement.scrollWidth -
					document.documentElement.clientWidth,
			);
			expect(overflow).toBeLessThanOrEqual(0);
			await page.screenshot({
				path: join(docs, "web-page-phone.png"),
				fullPage: true,
			});
		});
	},
);
