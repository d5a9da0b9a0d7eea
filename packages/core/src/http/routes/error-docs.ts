import * as schemas from "../schemas.ts";

/** The documented error responses shared by the prediction routes. */
export const PREDICTION_ERRORS = {
	400: {
		description: "Bad input: malformed JSON, a wrong field, a shape mismatch",
		schema: schemas.errorBody,
	},
	404: { description: "Unknown model or version", schema: schemas.errorBody },
	413: {
		description: "Body or record count over the limit",
		schema: schemas.errorBody,
	},
	503: {
		description: "Overloaded or draining (Retry-After)",
		schema: schemas.errorBody,
	},
	504: {
		description: "Prediction exceeded the request timeout",
		schema: schemas.errorBody,
	},
};

/** The documented error responses of the admin routes. */
export const ADMIN_ERRORS = {
	401: {
		description: "Missing or wrong admin token (Authorization: Bearer <token>)",
		schema: schemas.errorBody,
	},
	403: { description: "Admin routes off", schema: schemas.errorBody },
};
