import { describe, expect, it } from "vitest";
import { fromLambdaResult, toApiGatewayV2Event } from "./api-gateway.ts";
import type { GatewayRequest } from "./gateway-types.ts";

const request = (over: Partial<GatewayRequest>): GatewayRequest => ({
	method: "POST",
	path: "/predict",
	rawQuery: "",
	headers: [],
	body: Buffer.alloc(0),
	sourceIp: "127.0.0.1",
	receivedEpochMs: Date.UTC(2020, 2, 12, 19, 3, 58, 390),
	...over,
});

describe("toApiGatewayV2Event", () => {
	it("builds a payload 2.0 event: lower-case joined headers, cookies apart, query parsed", () => {
		const event = toApiGatewayV2Event(
			request({
				rawQuery: "a=1&a=2&b=3",
				headers: [
					["Content-Type", "application/json"],
					["X-Multi", "v1"],
					["x-multi", "v2"],
					["Cookie", "c1=v1; c2=v2"],
					["User-Agent", "curl/8"],
				],
				body: Buffer.from('{"x":[1,2,3]}'),
			}),
			{ apiId: "mdp", requestId: "req-1" },
		);
		expect(event).toEqual({
			version: "2.0",
			routeKey: "$default",
			rawPath: "/predict",
			rawQueryString: "a=1&a=2&b=3",
			cookies: ["c1=v1", "c2=v2"],
			headers: {
				"content-type": "application/json",
				"x-multi": "v1,v2",
				"user-agent": "curl/8",
			},
			queryStringParameters: { a: "1,2", b: "3" },
			requestContext: {
				accountId: "anonymous",
				apiId: "mdp",
				domainName: "mdp.lambda-url.local.on.aws",
				domainPrefix: "mdp",
				http: {
					method: "POST",
					path: "/predict",
					protocol: "HTTP/1.1",
					sourceIp: "127.0.0.1",
					userAgent: "curl/8",
				},
				requestId: "req-1",
				routeKey: "$default",
				stage: "$default",
				time: "12/Mar/2020:19:03:58 +0000",
				timeEpoch: Date.UTC(2020, 2, 12, 19, 3, 58, 390),
			},
			body: '{"x":[1,2,3]}',
			isBase64Encoded: false,
		});
	});

	it("leaves out the query, cookies and body when there are none", () => {
		const event = toApiGatewayV2Event(request({ method: "GET", path: "/v2" }), {
			apiId: "mdp",
		});
		expect(Object.keys(event)).not.toContain("queryStringParameters");
		expect(Object.keys(event)).not.toContain("cookies");
		expect(Object.keys(event)).not.toContain("body");
		expect(event.isBase64Encoded).toBe(false);
	});

	it("base64-encodes a binary body", () => {
		const bytes = Buffer.from([0, 255, 1, 254]);
		const event = toApiGatewayV2Event(
			request({
				headers: [["content-type", "application/octet-stream"]],
				body: bytes,
			}),
			{ apiId: "mdp" },
		);
		expect([
			event.isBase64Encoded,
			Buffer.from(event.body as string, "base64").equals(bytes),
		]).toEqual([true, true]);
	});
});

describe("fromLambdaResult", () => {
	it("sends the explicit shape: status, headers, each cookie as its own set-cookie", () => {
		const res = fromLambdaResult(
			JSON.stringify({
				statusCode: 201,
				headers: { "x-a": "1" },
				cookies: ["k=v; Path=/", "j=w"],
				body: "made",
			}),
		);
		expect([res.status, res.headers, res.body.toString()]).toEqual([
			201,
			[
				["x-a", "1"],
				["set-cookie", "k=v; Path=/"],
				["set-cookie", "j=w"],
			],
			"made",
		]);
	});

	it("decodes a base64 body", () => {
		const res = fromLambdaResult(
			JSON.stringify({
				statusCode: 200,
				body: Buffer.from("hé").toString("base64"),
				isBase64Encoded: true,
			}),
		);
		expect(res.body.toString()).toBe("hé");
	});

	it("infers 200 application/json for JSON without a statusCode (payload 2.0 rule)", () => {
		const res = fromLambdaResult('{"hello":[1,2]}');
		expect([res.status, res.headers, res.body.toString()]).toEqual([
			200,
			[["content-type", "application/json"]],
			'{"hello":[1,2]}',
		]);
		expect(fromLambdaResult('"plain"').body.toString()).toBe("plain");
	});

	it("answers 502 with a JSON error for a result that is not JSON or has a bad status", () => {
		const bad = fromLambdaResult("not json");
		expect([bad.status, JSON.parse(bad.body.toString()).error]).toEqual([
			502,
			expect.stringMatching(/not valid JSON/),
		]);
		const status = fromLambdaResult('{"statusCode":"soon"}');
		expect([status.status, JSON.parse(status.body.toString()).error]).toEqual([
			502,
			expect.stringMatching(/not an HTTP status/),
		]);
	});
});
