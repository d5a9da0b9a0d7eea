import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { synthesizeBundle } from "@mdp/core/training";
import { PATTERNS } from "./patterns.ts";
import type { SweepPoint, TargetContext } from "./types.ts";

/** Model sizes of the full run's sweep: from the reference model's scale to past the function limits. */
export const SWEEP_SIZES = [1e6, 10e6, 50e6, 200e6] as const;

/**
 * The model-size sweep: for each size, a synthetic bundle with the reference model's features (random
 * weights), then each pattern built and cold-started with it (3 runs, median). A pattern that cannot take
 * a size (a provider's package limit) records why instead of a figure: that is where the limit is crossed.
 */
export async function runModelSizeSweep(options: {
	ctx: TargetContext;
	patterns: readonly string[];
	sizes: readonly number[];
}): Promise<SweepPoint[]> {
	const { ctx, patterns, sizes } = options;
	const points: SweepPoint[] = [];
	for (const size of sizes) {
		const dir = join(ctx.workDir, `sweep-${size}`);
		await mkdir(dir, { recursive: true });
		const bundle = join(dir, "bundle");
		ctx.progress(`model-size sweep: synthesising a ${size / 1e6} MB model`);
		await synthesizeBundle({ out: bundle, sizeBytes: size, from: ctx.bundle });
		const point: SweepPoint = { model_bytes: size, targets: {} };
		for (const entry of PATTERNS.filter((p) => patterns.includes(p.id))) {
			const target = entry.create({ coldStartRuns: 3 });
			if (target.unavailable) continue;
			const sub: TargetContext = {
				...ctx,
				bundle,
				workDir: join(dir, entry.id),
			};
			await mkdir(sub.workDir, { recursive: true });
			ctx.progress(`model-size sweep: ${entry.id} with ${size / 1e6} MB`);
			try {
				const artifacts = await target.build(sub);
				const cold = await target.coldStart(sub);
				point.targets[entry.id] = {
					cold_start_ms: cold.total_ms,
					artifact_bytes: artifacts.reduce((n, a) => n + a.bytes, 0),
				};
			} catch (error) {
				point.targets[entry.id] = {
					cold_start_ms: Number.NaN,
					artifact_bytes: Number.NaN,
					error: (error as Error).message.split("\n")[0] ?? "failed",
				};
			} finally {
				await target.dispose?.().catch(() => {});
			}
		}
		points.push(point);
	}
	return points;
}
