/** One backend behind a balancer. */
export interface Upstream {
	/** Unique name (HAProxy server name): letters, digits, `_`, `-`, `.`. */
	id: string;
	host: string;
	port: number;
}

/** Active health check of upstreams: an HTTP GET that must answer 2xx. */
export interface HealthCheckOptions {
	/** Default `/v2/health/ready` (the OIP readiness endpoint). */
	path?: string;
	/** Default 1,000 ms. */
	intervalMs?: number;
	/** Default 500 ms. */
	timeoutMs?: number;
	/** Consecutive successes to become healthy. Default 1. */
	rise?: number;
	/** Consecutive failures to become unhealthy. Default 2. */
	fall?: number;
}

/** What a balancer knows about one upstream. */
export interface UpstreamState extends Upstream {
	healthy: boolean;
	draining: boolean;
	/**
	 * Requests in flight now: sent to the upstream, response not complete yet (HAProxy: the server's
	 * current sessions plus its queue, which in `mode http` are requests being served). The same meaning in
	 * both balancers, so it is the signal to autoscale on. (The embedded balancer's TCP mode cannot see
	 * requests: there it counts connections.)
	 */
	inFlight: number;
	/**
	 * What the balancer holds open to the upstream: connections, idle pooled ones included (embedded), or
	 * sessions (HAProxy). Not comparable between balancers; use `inFlight` for decisions.
	 */
	active: number;
	/** Requests (HTTP mode, HAProxy) or connections (embedded TCP mode) handled so far. */
	total: number;
}

/** The interface both balancers (embedded and HAProxy) implement, so a fleet can use either. */
export interface Balancer {
	readonly kind: "embedded" | "haproxy";
	readonly url: string;
	readonly port: number;
	/** Adds an upstream; with `waitHealthy` resolves once it passed a health check. */
	add(
		upstream: Upstream,
		options?: { waitHealthy?: boolean; timeoutMs?: number },
	): Promise<void>;
	/** Removes an upstream at once: its open connections are closed (in-flight requests are cut). */
	remove(id: string): Promise<void>;
	/**
	 * Sends no new request to the upstream (keep-alive clients included) and resolves when its in-flight
	 * requests are done (or after `timeoutMs`).
	 */
	drain(id: string, options?: { timeoutMs?: number }): Promise<void>;
	list(): Promise<UpstreamState[]>;
	/** PIDs of processes the balancer runs (HAProxy), for footprint measurement. */
	pids(): number[];
	close(): Promise<void>;
}
