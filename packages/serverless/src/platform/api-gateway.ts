import { randomUUID } from "node:crypto";
import {
	type GatewayRequest,
	type GatewayResponse,
	jsonResponse,
} from "./gateway-types.ts";

/** The API Gateway HTTP API / Lambda function URL event, payload format version 2.0. */
export interface ApiGatewayV2Event {
	version: "2.0";
	routeKey: string;
	rawPath: string;
	rawQueryString: string;
	cookies?: string[];
	headers: Record<string, string>;
	queryStringParameters?: Record<string, string>;
	requestContext: {
		accountId: string;
		apiId: string;
		domainName: string;
		domainPrefix: string;
		http: {
			method: string;
			path: string;
			protocol: string;
			sourceIp: string;
			userAgent: string;
		};
		requestId: string;
		routeKey: string;
		stage: string;
		time: string;
		timeEpoch: number;
	};
	body?: string;
	isBase64Encoded: boolean;
}

const MONTHS = [
	"Jan",
	"Feb",
	"Mar",
	"Apr",
	"May",
	"Jun",
	"Jul",
	"Aug",
	"Sep",
	"Oct",
	"Nov",
	"Dec",
];
const TEXT_TYPE =
	/^(text\/|application\/(json|xml|x-www-form-urlencoded|javascript)|[^;]*\+(json|xml))/i;

let clfSecond = Number.NaN;
let clfText = "";

/** `12/Mar/2020:19:03:58 +0000`, the `requestContext.time` format (formatted once per second). */
function clfTime(epochMs: number): string {
	const second = Math.floor(epochMs / 1000);
	if (second !== clfSecond) {
		clfSecond = second;
		clfText = formatClf(epochMs);
	}
	return clfText;
}

function formatClf(epochMs: number): string {
	const d = new Date(epochMs);
	const p = (n: number) => String(n).padStart(2, "0");
	return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/**
 * Builds the event a Lambda function URL sends for an HTTP request (payload format 2.0): lower-case
 * header names with repeated headers comma-joined, cookies moved to `cookies`, `queryStringParameters`
 * absent when there is no query (repeated keys comma-joined), a text body as is and any other body
 * base64-encoded.
 *
 * @example
 * const event = toApiGatewayV2Event(request, { apiId: "mdplocal" });
 * event.requestContext.http.method; // "POST"
 */
export function toApiGatewayV2Event(
	request: GatewayRequest,
	options: { apiId: string; requestId?: string },
): ApiGatewayV2Event {
	const headers: Record<string, string> = {};
	const cookies: string[] = [];
	for (const [rawName, value] of request.headers) {
		const name = rawName.toLowerCase();
		if (name === "cookie") {
			cookies.push(...value.split(/;\s*/).filter((c) => c !== ""));
			continue;
		}
		headers[name] = name in headers ? `${headers[name]},${value}` : value;
	}
	const query: Record<string, string> = {};
	if (request.rawQuery !== "")
		for (const [key, value] of new URLSearchParams(request.rawQuery))
			query[key] = key in query ? `${query[key]},${value}` : value;
	const domainName = `${options.apiId}.lambda-url.local.on.aws`;
	const contentType = headers["content-type"] ?? "";
	const hasBody = request.body.byteLength > 0;
	const text = hasBody && TEXT_TYPE.test(contentType);
	return {
		version: "2.0",
		routeKey: "$default",
		rawPath: request.path,
		rawQueryString: request.rawQuery,
		...(cookies.length > 0 ? { cookies } : {}),
		headers,
		...(request.rawQuery !== "" ? { queryStringParameters: query } : {}),
		requestContext: {
			accountId: "anonymous",
			apiId: options.apiId,
			domainName,
			domainPrefix: options.apiId,
			http: {
				method: request.method,
				path: request.path,
				protocol: "HTTP/1.1",
				sourceIp: request.sourceIp,
				userAgent: headers["user-agent"] ?? "",
			},
			requestId: options.requestId ?? randomUUID(),
			routeKey: "$default",
			stage: "$default",
			time: clfTime(request.receivedEpochMs),
			timeEpoch: request.receivedEpochMs,
		},
		...(hasBody
			? {
					body: text
						? request.body.toString("utf8")
						: request.body.toString("base64"),
				}
			: {}),
		isBase64Encoded: hasBody && !text,
	};
}

/**
 * Turns what a function returned (the Runtime API response body) into HTTP as a function URL does with
 * payload format 2.0: an object with `statusCode` is the explicit shape (`headers`, `cookies` as separate
 * `set-cookie` headers, `body`, `isBase64Encoded`); any other valid JSON is inferred as a 200
 * `application/json` response whose body is that JSON (a string: the string). Invalid JSON → 502.
 *
 * @example
 * fromLambdaResult('{"statusCode":201,"body":"ok"}').status; // 201
 * fromLambdaResult('{"hello":1}').body.toString(); // '{"hello":1}'
 */
export function fromLambdaResult(payload: string): GatewayResponse {
	let value: unknown;
	try {
		value = JSON.parse(payload);
	} catch {
		return jsonResponse(502, {
			message: "Internal Server Error",
			error: "the function returned a response that is not valid JSON",
		});
	}
	if (value !== null && typeof value === "object" && "statusCode" in value) {
		const result = value as {
			statusCode: unknown;
			headers?: Record<string, unknown>;
			multiValueHeaders?: Record<string, unknown[]>;
			cookies?: unknown[];
			body?: unknown;
			isBase64Encoded?: boolean;
		};
		const status = Number(result.statusCode);
		if (!Number.isInteger(status) || status < 100 || status > 599)
			return jsonResponse(502, {
				message: "Internal Server Error",
				error: `the function returned statusCode ${JSON.stringify(result.statusCode)}, not an HTTP status`,
			});
		const headers: [string, string][] = [];
		for (const [name, v] of Object.entries(result.headers ?? {}))
			headers.push([name, String(v)]);
		for (const [name, values] of Object.entries(result.multiValueHeaders ?? {}))
			for (const v of values)
				if (!(name in (result.headers ?? {}))) headers.push([name, String(v)]);
		for (const cookie of result.cookies ?? [])
			headers.push(["set-cookie", String(cookie)]);
		const body =
			result.body === undefined || result.body === null
				? ""
				: String(result.body);
		return {
			status,
			headers,
			body: result.isBase64Encoded
				? Buffer.from(body, "base64")
				: Buffer.from(body),
		};
	}
	return {
		status: 200,
		headers: [["content-type", "application/json"]],
		body: Buffer.from(typeof value === "string" ? value : payload),
	};
}
