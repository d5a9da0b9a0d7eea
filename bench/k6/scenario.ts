// Runs one harness scenario against a URL with k6 (k6 runs TypeScript natively since v0.57). The harness
// calls it when a k6 binary is on PATH (or K6_BIN):
//   k6 run --summary-export out.json -e SCENARIO='{…}' -e TARGET_URL=http://127.0.0.1:8080/predict \
//          -e BODIES_FILE=/tmp/bodies.json bench/k6/scenario.ts
// SCENARIO is one entry of bench/src/scenarios.ts, resolved (rates in req/s, durations in s).
import { check } from "k6";
import http from "k6/http";
import type { Scenario as K6Scenario, Options } from "k6/options";

interface HarnessScenario {
	executor: "constant-arrival-rate" | "ramping-arrival-rate" | "constant-vus";
	rate?: number;
	startRate?: number;
	stages?: { target: number; durationS: number }[];
	durationS?: number;
	vus?: number;
	maxVUs?: number;
}

const scenario = JSON.parse(__ENV.SCENARIO ?? "{}") as HarnessScenario;
const url = __ENV.TARGET_URL ?? "http://127.0.0.1:8080/predict";
const bodies = JSON.parse(open(__ENV.BODIES_FILE ?? "bodies.json")) as string[];

function toK6(s: HarnessScenario): K6Scenario {
	const maxVUs = s.maxVUs ?? 256;
	switch (s.executor) {
		case "constant-arrival-rate":
			return {
				executor: s.executor,
				rate: s.rate ?? 1,
				timeUnit: "1s",
				duration: `${s.durationS ?? 10}s`,
				preAllocatedVUs: Math.min(64, maxVUs),
				maxVUs,
			};
		case "ramping-arrival-rate":
			return {
				executor: s.executor,
				startRate: s.startRate ?? 0,
				timeUnit: "1s",
				stages: (s.stages ?? []).map((st) => ({
					target: st.target,
					duration: `${st.durationS}s`,
				})),
				preAllocatedVUs: Math.min(64, maxVUs),
				maxVUs,
			};
		default:
			return {
				executor: "constant-vus",
				vus: s.vus ?? 1,
				duration: `${s.durationS ?? 10}s`,
			};
	}
}

export const options: Options = {
	scenarios: { main: toK6(scenario) },
	summaryTrendStats: [
		"avg",
		"min",
		"med",
		"max",
		"p(90)",
		"p(99)",
		"p(99.9)",
		"count",
	],
	discardResponseBodies: true,
};

let turn = 0;
export default function (): void {
	const body = bodies[turn++ % bodies.length] ?? "{}";
	const res = http.post(url, body, {
		headers: { "content-type": "application/json" },
	});
	check(res, { "status is 2xx": (r) => r.status >= 200 && r.status < 300 });
}
