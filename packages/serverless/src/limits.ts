/** The providers a function package can be built for. */
export type Provider = "aws" | "gcp" | "azure";

/**
 * The providers, in the order the CLI lists them.
 *
 * @example
 * PROVIDERS.includes("aws"); // true
 */
export const PROVIDERS: readonly Provider[] = ["aws", "gcp", "azure"];

/** One provider's package-size limits, with where each value comes from and when it was read. */
export interface SizeLimit {
	provider: Provider;
	/** Largest zip, in bytes; undefined where the provider documents none. */
	compressedBytes?: number;
	/** Largest unzipped content, in bytes; undefined where the provider documents none. */
	uncompressedBytes?: number;
	/** What the values apply to. */
	scope: string;
	/** Where the values were read. */
	source: string;
	/** When they were read (limits change). */
	read: string;
}

/**
 * Package-size limits per provider (one table, checked by `packageFunction`). Values are the ones the
 * providers document; where a provider documents none, the field is absent and nothing is checked.
 *
 * @example
 * SIZE_LIMITS.aws.uncompressedBytes; // 262_144_000 (250 MB unzipped, code + layers)
 */
export const SIZE_LIMITS: Readonly<Record<Provider, SizeLimit>> = {
	aws: {
		provider: "aws",
		compressedBytes: 50 * 1024 * 1024,
		uncompressedBytes: 262_144_000,
		scope:
			"Lambda .zip deployment package: 50 MB zipped for direct upload (larger through S3), 250 MB unzipped including layers and a custom runtime (also with S3)",
		source:
			"AWS Lambda Developer Guide, Lambda quotas (docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)",
		read: "2026-11",
	},
	gcp: {
		provider: "gcp",
		compressedBytes: 100 * 1024 * 1024,
		uncompressedBytes: 500 * 1024 * 1024,
		scope:
			"Cloud Functions 1st gen: 100 MB compressed sources, 500 MB uncompressed sources + modules. Cloud Run functions (2nd gen) have no source-size quota (the source is built into a container image); the 1st gen values are checked as the stricter bound",
		source:
			"Google Cloud, Cloud Run functions quotas (cloud.google.com/functions/quotas and quotas-1st-gen)",
		read: "2026-11",
	},
	azure: {
		provider: "azure",
		scope:
			"Azure Functions zip deployment: no package-size limit is documented (the often quoted ~2 GB Kudu figure is not in Microsoft's documentation), so none is checked; sizes are still reported",
		source:
			"Microsoft Learn, Azure Functions limits and zip deployment (learn.microsoft.com/azure/azure-functions/functions-scale, deployment-zip-push)",
		read: "2026-11",
	},
};

/** Sizes of a package, as compared with a {@link SizeLimit}. */
export interface PackageSizes {
	compressedBytes: number;
	uncompressedBytes: number;
}

/**
 * The limits `sizes` breaks, as sentences naming the size and the limit (empty when within all).
 *
 * @example
 * exceededLimits("aws", { compressedBytes: 60e6, uncompressedBytes: 100e6 });
 * // ["zipped size 60.0 MB exceeds the aws limit of 52.4 MB (…)"]
 */
export function exceededLimits(
	provider: Provider,
	sizes: PackageSizes,
): string[] {
	const limit = SIZE_LIMITS[provider];
	const out: string[] = [];
	if (
		limit.uncompressedBytes !== undefined &&
		sizes.uncompressedBytes > limit.uncompressedBytes
	)
		out.push(
			`unzipped size ${formatBytes(sizes.uncompressedBytes)} (${sizes.uncompressedBytes} bytes) exceeds the ${provider} limit of ${formatBytes(limit.uncompressedBytes)} (${limit.uncompressedBytes} bytes)`,
		);
	if (
		limit.compressedBytes !== undefined &&
		sizes.compressedBytes > limit.compressedBytes
	)
		out.push(
			`zipped size ${formatBytes(sizes.compressedBytes)} (${sizes.compressedBytes} bytes) exceeds the ${provider} limit of ${formatBytes(limit.compressedBytes)} (${limit.compressedBytes} bytes)`,
		);
	return out;
}

/**
 * Bytes as a short decimal figure: `46.2 MB`, `812 KB`, `120 B`.
 *
 * @example
 * formatBytes(46_228_442); // "46.2 MB"
 */
export function formatBytes(bytes: number): string {
	if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
	if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(0)} KB`;
	return `${bytes} B`;
}
