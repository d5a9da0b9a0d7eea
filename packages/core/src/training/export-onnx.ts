import onnxProto from "onnx-proto";
import type { Mlp } from "./mlp.ts";

const { onnx } = onnxProto;

/** Options of {@link toOnnxBytes}. */
export interface ToOnnxOptions {
	graphName: string;
	inputName: string;
	outputName: string;
	producerVersion: string;
}

/**
 * Serialises an MLP as an ONNX model: `Gemm → Relu → … → Gemm → Softmax`, float32, batch dimension `N`.
 * Opset 13, IR version 8 (the newest the `onnx-proto` schema knows; onnxruntime 1.30 reads it).
 */
export function toOnnxBytes(mlp: Mlp, options: ToOnnxOptions): Uint8Array {
	const nodes: InstanceType<typeof onnx.NodeProto>[] = [];
	const initializers: InstanceType<typeof onnx.TensorProto>[] = [];
	let current = options.inputName;
	mlp.layers.forEach((layer, l) => {
		const w = `layer${l}.weight`;
		const b = `layer${l}.bias`;
		initializers.push(
			floatTensor(w, [layer.inputs, layer.outputs], layer.weights),
		);
		initializers.push(floatTensor(b, [layer.outputs], layer.bias));
		const gemmOut = `layer${l}.gemm`;
		nodes.push(
			onnx.NodeProto.create({
				name: `gemm${l}`,
				opType: "Gemm",
				input: [current, w, b],
				output: [gemmOut],
			}),
		);
		const last = l === mlp.layers.length - 1;
		const activated = last ? options.outputName : `layer${l}.relu`;
		nodes.push(
			last
				? onnx.NodeProto.create({
						name: "softmax",
						opType: "Softmax",
						input: [gemmOut],
						output: [activated],
						attribute: [
							onnx.AttributeProto.create({
								name: "axis",
								type: onnx.AttributeProto.AttributeType.INT,
								i: 1,
							}),
						],
					})
				: onnx.NodeProto.create({
						name: `relu${l}`,
						opType: "Relu",
						input: [gemmOut],
						output: [activated],
					}),
		);
		current = activated;
	});
	const first = mlp.layers[0];
	const lastLayer = mlp.layers.at(-1);
	if (!first || !lastLayer) throw new Error("an MLP needs at least one layer");
	const model = onnx.ModelProto.create({
		irVersion: 8,
		opsetImport: [onnx.OperatorSetIdProto.create({ domain: "", version: 13 })],
		producerName: "@mdp/core",
		producerVersion: options.producerVersion,
		graph: onnx.GraphProto.create({
			name: options.graphName,
			node: nodes,
			initializer: initializers,
			input: [valueInfo(options.inputName, first.inputs)],
			output: [valueInfo(options.outputName, lastLayer.outputs)],
		}),
	});
	return onnx.ModelProto.encode(model).finish();
}

function floatTensor(name: string, dims: number[], values: Float32Array) {
	// Copy into a fresh, exactly sized buffer: rawData is little-endian float32, as on every host we target.
	const raw = new Uint8Array(values.byteLength);
	raw.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
	return onnx.TensorProto.create({
		name,
		dims,
		dataType: onnx.TensorProto.DataType.FLOAT,
		rawData: raw,
	});
}

function valueInfo(name: string, width: number) {
	return onnx.ValueInfoProto.create({
		name,
		type: onnx.TypeProto.create({
			tensorType: onnx.TypeProto.Tensor.create({
				elemType: onnx.TensorProto.DataType.FLOAT,
				shape: onnx.TensorShapeProto.create({
					dim: [
						onnx.TensorShapeProto.Dimension.create({ dimParam: "N" }),
						onnx.TensorShapeProto.Dimension.create({ dimValue: width }),
					],
				}),
			}),
		}),
	});
}
