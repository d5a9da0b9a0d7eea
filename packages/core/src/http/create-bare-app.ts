import { Hono } from "hono";
import type { ServingApp } from "./create-app.ts";

const CONSTANT = {
	model: { name: "bare", version: "0" },
	predictions: [
		{
			label: "Adelie",
			probabilities: { Adelie: 0.98, Chinstrap: 0.01, Gentoo: 0.01 },
		},
	],
};

/**
 * The HTTP ceiling: the same framework and server as {@link createApp}, answering `POST /predict` with a
 * constant JSON after reading the body, and no model. Benchmarks compare the real app against it on the
 * same core budget to separate HTTP cost from prediction cost (`mdp-core serve --bare`).
 */
export function createBareApp(): Pick<
	ServingApp,
	"app" | "fetch" | "drain" | "inFlight"
> {
	const app = new Hono();
	let ready = true;
	app.post("/predict", async (c) => {
		await c.req.text();
		return c.json(CONSTANT);
	});
	app.get("/v2/health/live", (c) => c.json({ live: true }));
	app.get("/v2/health/ready", (c) => c.json({ ready }, ready ? 200 : 503));
	return {
		app,
		fetch: app.fetch,
		drain: async () => {
			ready = false;
			return 0;
		},
		inFlight: () => 0,
	};
}
