// The part of autocannon's API the balancer benchmark uses (the package ships no types).
declare module "autocannon" {
	interface Options {
		url: string;
		method?: string;
		headers?: Record<string, string>;
		body?: string;
		connections?: number;
		overallRate?: number;
		duration?: number;
	}
	interface Result {
		requests: { total: number };
		latency: { p50: number; p99: number };
		errors: number;
		non2xx: number;
	}
	// biome-ignore lint/style/noDefaultExport: declares the package's own default export.
	export default function autocannon(options: Options): Promise<Result>;
}
