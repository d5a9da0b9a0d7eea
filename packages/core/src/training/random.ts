/** A seeded pseudo-random source: the same seed gives the same sequence on every run and machine. */
export interface Random {
	/** Uniform in [0, 1). */
	next(): number;
	/** Standard normal (Box–Muller). */
	normal(): number;
}

/** mulberry32: a small, well-studied 32-bit generator; enough for initialisation and shuffles. */
export function createRandom(seed: number): Random {
	let state = seed >>> 0;
	const next = () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
	return {
		next,
		normal() {
			const u = 1 - next();
			return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
		},
	};
}

/** Fisher–Yates shuffle of 0…n−1. */
export function shuffledIndices(n: number, random: Random): number[] {
	const indices = Array.from({ length: n }, (_, i) => i);
	for (let i = n - 1; i > 0; i--) {
		const j = Math.floor(random.next() * (i + 1));
		[indices[i], indices[j]] = [indices[j] as number, indices[i] as number];
	}
	return indices;
}
