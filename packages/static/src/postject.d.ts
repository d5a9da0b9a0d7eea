// postject ships no types; this is the one function used (dist/api.js).
declare module "postject" {
	export function inject(
		file: string,
		resourceName: string,
		resourceData: Buffer,
		options?: { sentinelFuse?: string; overwrite?: boolean },
	): Promise<void>;
}
