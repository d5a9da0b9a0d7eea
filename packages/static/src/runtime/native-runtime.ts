import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

/** The two native files of onnxruntime-node on linux-x64, carried as SEA assets under these names. */
export const NATIVE_FILES = [
	"libonnxruntime.so.1",
	"onnxruntime_binding.node",
] as const;

/**
 * Where the native runtime is extracted: `$MDP_CACHE_DIR`, else `$XDG_CACHE_HOME/mdp`, else `~/.cache/mdp`,
 * falling back to the temp dir when that cannot be created. Override it where the default sits on a
 * `noexec` mount: a shared object there cannot be mapped.
 */
export function cacheRoot(): string {
	if (process.env.MDP_CACHE_DIR) return process.env.MDP_CACHE_DIR;
	const base = process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache");
	const dir = join(base, "mdp");
	try {
		mkdirSync(dir, { recursive: true });
		return dir;
	} catch {
		return join(tmpdir(), `mdp-cache-${process.getuid?.() ?? "user"}`);
	}
}

/**
 * Extracts the native files (once per content hash: the folder name is their sha256) and loads the
 * binding with `process.dlopen`; `$ORIGIN` RUNPATH finds `libonnxruntime.so.1` beside it. Each file is
 * written to a temp name and renamed, so concurrent first runs never see a partial file.
 */
export function loadNativeBinding(
	getAsset: (name: string) => ArrayBuffer,
): unknown {
	const assets = NATIVE_FILES.map(
		(name) => [name, new Uint8Array(getAsset(name))] as const,
	);
	const hash = createHash("sha256");
	for (const [, bytes] of assets) hash.update(bytes);
	const dir = join(
		cacheRoot(),
		`onnxruntime-linux-x64-${hash.digest("hex").slice(0, 16)}`,
	);
	const binding = join(dir, "onnxruntime_binding.node");
	if (!existsSync(binding)) {
		mkdirSync(dir, { recursive: true });
		for (const [name, bytes] of assets) {
			const tmp = join(dir, `${name}.${process.pid}.tmp`);
			writeFileSync(tmp, bytes, { mode: 0o755 });
			renameSync(tmp, join(dir, name));
		}
	}
	const module = { exports: {} };
	process.dlopen(module, binding);
	return module.exports;
}
