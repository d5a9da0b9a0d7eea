/** An HTTP request as the gateway received it (body read whole, within the payload limit). */
export interface GatewayRequest {
	method: string;
	/** Path without the query, as sent (`/predict`). */
	path: string;
	/** Query string without `?` (empty when none). */
	rawQuery: string;
	/** Header pairs in arrival order, names as sent. */
	headers: [string, string][];
	body: Buffer;
	sourceIp: string;
	/** When the gateway received it, Unix epoch ms. */
	receivedEpochMs: number;
}

/** An HTTP response for the gateway to send. */
export interface GatewayResponse {
	status: number;
	headers: [string, string][];
	body: Buffer;
}

/**
 * A JSON response (errors of the platform itself: throttles, timeouts, crashes).
 *
 * @example
 * jsonResponse(429, { message: "Too Many Requests" }, [["retry-after", "1"]]);
 */
export function jsonResponse(
	status: number,
	body: unknown,
	headers: [string, string][] = [],
): GatewayResponse {
	return {
		status,
		headers: [["content-type", "application/json"], ...headers],
		body: Buffer.from(JSON.stringify(body)),
	};
}
