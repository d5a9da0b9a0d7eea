import type { BundleManifest } from "@mdp/core";

/**
 * A record the model accepts without any imputation or range warning, built from its manifest: each
 * numeric feature at its training mean, each categorical feature at its first category. A function's
 * warm-up request sends it at init, so its first real invocation runs code that is already loaded and
 * compiled.
 *
 * @example
 * warmUpRecord(manifest); // { Island: "Biscoe", "Beak Length (mm)": 43.64, … }
 */
export function warmUpRecord(
	manifest: BundleManifest,
): Record<string, unknown> {
	const record: Record<string, unknown> = {};
	for (const feature of manifest.features)
		record[feature.name] =
			feature.kind === "numeric" ? feature.mean : feature.categories[0];
	return record;
}

const MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(" ");

/** `12/Mar/2020:19:03:58 +0000`, the format of `requestContext.time`. */
function clfTime(epochMs: number): string {
	const d = new Date(epochMs);
	const p = (n: number) => String(n).padStart(2, "0");
	return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/**
 * A Lambda function URL event (payload format 2.0) for a JSON `POST` to `path`, as a warm-up request: the
 * shape Hono's Lambda adapter reads, with a request id and source address that name it as such.
 *
 * @example
 * await handler(warmUpEvent("/predict", JSON.stringify({ records: [record] })));
 */
export function warmUpEvent(path: string, body: string) {
	const now = Date.now();
	return {
		version: "2.0",
		routeKey: "$default",
		rawPath: path,
		rawQueryString: "",
		headers: {
			"content-type": "application/json",
			host: "warm-up.lambda-url.local.on.aws",
			"user-agent": "mdp-warm-up",
		},
		requestContext: {
			accountId: "anonymous",
			apiId: "warm-up",
			domainName: "warm-up.lambda-url.local.on.aws",
			domainPrefix: "warm-up",
			http: {
				method: "POST",
				path,
				protocol: "HTTP/1.1",
				sourceIp: "127.0.0.1",
				userAgent: "mdp-warm-up",
			},
			requestId: "warm-up",
			routeKey: "$default",
			stage: "$default",
			time: clfTime(now),
			timeEpoch: now,
		},
		body,
		isBase64Encoded: false,
	};
}
