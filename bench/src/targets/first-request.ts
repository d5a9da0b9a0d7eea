import { join } from "node:path";
import { readGoldenSet } from "@mdp/core";

const bodies = new Map<string, Promise<string>>();

/** The body of a cold start's first `/predict`: the first golden record of the bundle being measured. */
export function firstRequestBody(bundle: string): Promise<string> {
	let body = bodies.get(bundle);
	if (!body) {
		body = readGoldenSet(join(bundle, "golden.jsonl")).then((golden) =>
			JSON.stringify({ records: golden.slice(0, 1).map((g) => g.record) }),
		);
		bodies.set(bundle, body);
	}
	return body;
}
