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

/** Name of the small asset holding the native files' content hash, computed at build time. */
export const NATIVE_KEY_ASSET = "native-runtime.key";

/** Content hash of the native files, the name of their cache folder (computed once, at build time). */
export function nativeRuntimeKey(files: readonly Uint8Array[]): string {
	const hash = createHash("sha256");
	for (const bytes of files) hash.update(bytes);
	return `onnxruntime-linux-x64-${hash.digest("hex").slice(0, 16)}`;
}

/**
 * Extracts the native files once per content hash and loads the binding with `process.dlopen`; `$ORIGIN`
 * RUNPATH finds `libonnxruntime.so.1` beside it. Each file is written to a temp name and renamed, so
 * concurrent first runs never see a partial file. A warm start reads only the small key asset: copying
 * and hashing the 46 MB runtime on every start would cost about 100 ms.
 */
export function loadNativeBinding(
	getAsset: (name: string) => ArrayBuffer,
): unknown {
	const key = Buffer.from(getAsset(NATIVE_KEY_ASSET)).toString("utf8");
	const dir = join(cacheRoot(), key);
	const binding = join(dir, "onnxruntime_binding.node");
	if (!existsSync(binding)) {
		mkdirSync(dir, { recursive: true });
		for (const name of NATIVE_FILES) {
			const tmp = join(dir, `${name}.${process.pid}.tmp`);
			writeFileSync(tmp, new Uint8Array(getAsset(name)), { mode: 0o755 });
			renameSync(tmp, join(dir, name));
		}
	}
	const module = { exports: {} };
	process.dlopen(module, binding);
	return module.exports;
}
