// The HTTP ceiling: a bare Hono app on @hono/node-server returning a constant JSON for POST /predict.
// Prints the same listening line as `mdp-core serve`, so the benchmark drives both the same way.
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const body = {
	model: { name: "penguins", version: "1.0.0" },
	predictions: [
		{
			label: "Adelie",
			probabilities: { Adelie: 0.98, Chinstrap: 0.01, Gentoo: 0.01 },
		},
	],
};
const app = new Hono();
app.post("/predict", async (c) => {
	await c.req.text();
	return c.json(body);
});
app.get("/v2/health/ready", (c) => c.json({ ready: true }));
const flag = process.argv.indexOf("--port");
const port = flag >= 0 ? Number(process.argv[flag + 1]) : 0;
const server = serve(
	{ fetch: app.fetch, port, hostname: "127.0.0.1" },
	(info) => {
		console.log(
			JSON.stringify({
				event: "listening",
				url: `http://127.0.0.1:${info.port}`,
				pid: process.pid,
			}),
		);
	},
);
process.once("SIGTERM", () => server.close(() => process.exit(0)));
