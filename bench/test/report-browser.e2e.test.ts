import { spawnSync } from "node:child_process";
import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runsWith, testArtifactsDir } from "@mdp/core/testing";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import { rerenderReport } from "../src/index.ts";

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const hasChromium = runsWith(
	"chromium",
	spawnSync(CHROMIUM, ["--version"]).status === 0,
);
const docs = testArtifactsDir();

describe.runIf(hasChromium)("report.html in real Chromium", () => {
	it("opens offline from a file and shows the table and the five charts", async () => {
		const dir = await mkdtemp(join(tmpdir(), "mdp-report-view-"));
		const browser = await chromium.launch({
			executablePath: CHROMIUM,
			args: [
				"--no-sandbox",
				"--disable-gpu",
				"--disable-background-networking",
				"--disable-component-update",
				"--no-first-run",
			],
		});
		try {
			await cp(
				join(import.meta.dirname, "fixtures", "results.json"),
				join(dir, "results.json"),
			);
			await rerenderReport(dir);
			const context = await browser.newContext({
				viewport: { width: 1280, height: 900 },
			});
			await context.setOffline(true);
			const page = await context.newPage();
			const requests: string[] = [];
			page.on("request", (r) => requests.push(r.url()));
			await page.goto(`file://${join(dir, "report.html")}`);
			// Latency, throughput, cold start, cost against rate, footprint (no sweep in the fixture).
			expect(await page.locator("figure svg").count()).toBe(5);
			await expect(
				page
					.locator("figcaption", { hasText: "Cost per million predictions" })
					.count(),
			).resolves.toBe(1);
			expect(await page.locator("table tr").count()).toBeGreaterThan(10);
			// Charts have marks, not just axes.
			expect(
				await page.locator("figure svg path, figure svg rect").count(),
			).toBeGreaterThan(20);
			expect(requests.filter((u) => !u.startsWith("file://"))).toEqual([]);
			await mkdir(docs, { recursive: true });
			await page.screenshot({ path: join(docs, "report.png"), fullPage: true });
		} finally {
			await browser.close();
			await rm(dir, { recursive: true, force: true });
		}
	});
});
