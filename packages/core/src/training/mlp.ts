import type { Random } from "./random.ts";

/** One dense layer: `y = x · weights + bias`, weights row-major `[inputs, outputs]`. */
export interface DenseLayer {
	inputs: number;
	outputs: number;
	weights: Float32Array;
	bias: Float32Array;
}

/** A multi-layer perceptron: dense layers with ReLU between them and softmax at the end. */
export interface Mlp {
	layers: DenseLayer[];
}

/** Options of {@link trainMlp}. */
export interface TrainMlpOptions {
	/** Row-major `[rows, columns]` inputs. */
	x: Float32Array;
	/** Class index per row. */
	y: Int32Array;
	columns: number;
	classes: number;
	hidden: number;
	epochs: number;
	learningRate: number;
	/** L2 penalty on weights. */
	weightDecay: number;
	random: Random;
}

/**
 * Trains a one-hidden-layer MLP (ReLU, softmax, cross-entropy) with full-batch Adam in float64.
 * Deterministic: every step is plain arithmetic in a fixed order.
 */
export function trainMlp(options: TrainMlpOptions): Mlp {
	const {
		x,
		y,
		columns: f,
		classes: k,
		hidden: h,
		epochs,
		learningRate,
		weightDecay,
		random,
	} = options;
	const n = y.length;
	const w1 = Float64Array.from(
		{ length: f * h },
		() => random.normal() * Math.sqrt(2 / f),
	);
	const b1 = new Float64Array(h);
	const w2 = Float64Array.from(
		{ length: h * k },
		() => random.normal() * Math.sqrt(1 / h),
	);
	const b2 = new Float64Array(k);
	const params = [w1, b1, w2, b2];
	const grads = params.map((p) => new Float64Array(p.length));
	const m = params.map((p) => new Float64Array(p.length));
	const v = params.map((p) => new Float64Array(p.length));
	const [g1, gb1, g2, gb2] = grads as [
		Float64Array,
		Float64Array,
		Float64Array,
		Float64Array,
	];
	const a = new Float64Array(h);
	const p = new Float64Array(k);
	const da = new Float64Array(h);
	const beta1 = 0.9;
	const beta2 = 0.999;

	for (let epoch = 1; epoch <= epochs; epoch++) {
		for (const g of grads) g.fill(0);
		for (let r = 0; r < n; r++) {
			const xr = r * f;
			for (let j = 0; j < h; j++) {
				let s = b1[j] as number;
				for (let i = 0; i < f; i++)
					s += (x[xr + i] as number) * (w1[i * h + j] as number);
				a[j] = Math.max(s, 0);
			}
			let max = -Infinity;
			for (let c = 0; c < k; c++) {
				let s = b2[c] as number;
				for (let j = 0; j < h; j++)
					s += (a[j] as number) * (w2[j * k + c] as number);
				p[c] = s;
				if (s > max) max = s;
			}
			let sum = 0;
			for (let c = 0; c < k; c++) {
				p[c] = Math.exp((p[c] as number) - max);
				sum += p[c] as number;
			}
			da.fill(0);
			for (let c = 0; c < k; c++) {
				const d = ((p[c] as number) / sum - (c === y[r] ? 1 : 0)) / n;
				gb2[c] = (gb2[c] as number) + d;
				for (let j = 0; j < h; j++) {
					g2[j * k + c] = (g2[j * k + c] as number) + (a[j] as number) * d;
					da[j] = (da[j] as number) + (w2[j * k + c] as number) * d;
				}
			}
			for (let j = 0; j < h; j++) {
				if ((a[j] as number) <= 0) continue;
				const d = da[j] as number;
				gb1[j] = (gb1[j] as number) + d;
				for (let i = 0; i < f; i++)
					g1[i * h + j] = (g1[i * h + j] as number) + (x[xr + i] as number) * d;
			}
		}
		for (let i = 0; i < w1.length; i++)
			g1[i] = (g1[i] as number) + weightDecay * (w1[i] as number);
		for (let i = 0; i < w2.length; i++)
			g2[i] = (g2[i] as number) + weightDecay * (w2[i] as number);
		const c1 = 1 - beta1 ** epoch;
		const c2 = 1 - beta2 ** epoch;
		params.forEach((param, t) => {
			const g = grads[t] as Float64Array;
			const mt = m[t] as Float64Array;
			const vt = v[t] as Float64Array;
			for (let i = 0; i < param.length; i++) {
				const gi = g[i] as number;
				mt[i] = beta1 * (mt[i] as number) + (1 - beta1) * gi;
				vt[i] = beta2 * (vt[i] as number) + (1 - beta2) * gi * gi;
				param[i] =
					(param[i] as number) -
					(learningRate * ((mt[i] as number) / c1)) /
						(Math.sqrt((vt[i] as number) / c2) + 1e-8);
			}
		});
	}
	return {
		layers: [
			{
				inputs: f,
				outputs: h,
				weights: Float32Array.from(w1),
				bias: Float32Array.from(b1),
			},
			{
				inputs: h,
				outputs: k,
				weights: Float32Array.from(w2),
				bias: Float32Array.from(b2),
			},
		],
	};
}

/** Creates an MLP with random weights (He initialisation), for synthetic models of a chosen size. */
export function createRandomMlp(sizes: readonly number[], random: Random): Mlp {
	const layers: DenseLayer[] = [];
	for (let l = 0; l + 1 < sizes.length; l++) {
		const inputs = sizes[l] as number;
		const outputs = sizes[l + 1] as number;
		const scale = Math.sqrt(2 / inputs);
		const weights = new Float32Array(inputs * outputs);
		for (let i = 0; i < weights.length; i++)
			weights[i] = random.normal() * scale;
		layers.push({ inputs, outputs, weights, bias: new Float32Array(outputs) });
	}
	return { layers };
}
