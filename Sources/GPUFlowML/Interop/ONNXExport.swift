import Foundation
import GPUFlowCompute
import GPUFlowCore

/// A graph model as an ONNX file (opset 17, IR version 8) of its inference pass: every node
/// of the graph becomes the ONNX operators that compute it (a linear layer MatMul and Add, a
/// convolution Conv, layer norm LayerNormalization, attention its MatMuls, Softmax and
/// Transposes), parameters become initializers under their own names in gpuflow's layout (a
/// convolution's weight is re-laid out to ONNX's [O, C/g, kh, kw] by Reshape and Transpose
/// nodes), dropout is the identity and a batch statistic its running average, as at gpuflow's
/// inference. The input is "input" of shape ["batch"] + the sample's shape, the output
/// "output". An op with no ONNX form here (a gradient op, scatter_add) is refused by name.
public enum ONNXExport {
    public static let opset = 17

    /// ONNX TensorProto.DataType values.
    enum ElementType: Int {
        case float = 1
        case int64 = 7
    }

    struct Node {
        var op: String
        var inputs: [String]
        var outputs: [String]
        var attributes: [(String, Attribute)] = []
    }

    enum Attribute {
        case int(Int)
        case float(Float)
        case ints([Int])
    }

    struct Initializer {
        var name: String
        var type: ElementType
        var dims: [Int]
        var raw: [UInt8]
    }

    /// Collects nodes and constants while the graph is walked.
    struct Builder {
        var nodes: [Node] = []
        var initializers: [Initializer] = []
        var counter = 0

        mutating func fresh(_ hint: String) -> String {
            counter += 1
            return "\(hint)_\(counter)"
        }

        @discardableResult
        mutating func add(_ op: String, _ inputs: [String], _ attributes: [(String, Attribute)] = [], output: String? = nil) -> String {
            let out = output ?? fresh(op.lowercased())
            nodes.append(Node(op: op, inputs: inputs, outputs: [out], attributes: attributes))
            return out
        }

        mutating func ints(_ values: [Int]) -> String {
            let name = fresh("const_i64")
            var raw: [UInt8] = []
            for v in values { withUnsafeBytes(of: Int64(v).littleEndian) { raw.append(contentsOf: $0) } }
            initializers.append(Initializer(name: name, type: .int64, dims: [values.count], raw: raw))
            return name
        }

        mutating func floats(_ values: [Float]) -> String {
            let name = fresh("const_f32")
            initializers.append(Initializer(name: name, type: .float, dims: [values.count], raw: FloatBytes.encode(values)))
            return name
        }

        mutating func scalar(_ v: Float) -> String {
            let name = fresh("const_f32")
            initializers.append(Initializer(name: name, type: .float, dims: [], raw: FloatBytes.encode([v])))
            return name
        }
    }

    /// The file's bytes. `name` is the graph's name in the file.
    /// `scaling`: the model's schema's scalings (standardize, normalize) as the graph's first
    /// nodes, so the file takes raw rows (categorical columns as their codes), as gpuflow's
    /// `predict` does; the schema itself rides in the metadata as `gpuflow.schema`.
    public static func encode(_ model: GraphModel, name: String = "gpuflow", scaling: Bool = true) throws -> [UInt8] {
        var b = Builder()
        var input = "input"
        if scaling, let steps = model.schema?.preprocessing, model.inputShape.count == 1 {
            for step in steps {
                switch step {
                case .standardize(let mean, let std):
                    input = b.add("Div", [b.add("Sub", [input, b.floats(mean)]), b.floats(std)])
                case .normalize(let lo, let hi):
                    let scale = zip(lo, hi).map { l, h in h - l > 0 ? 1 / (h - l) : 0 }
                    input = b.add("Mul", [b.add("Sub", [input, b.floats(lo)]), b.floats(scale)])
                }
            }
        }
        var values: [[String]] = []
        var shapes: [[[Int]]] = []
        let params = Dictionary(model.parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for p in model.parameters {
            b.initializers.append(Initializer(name: p.name, type: .float, dims: p.shape, raw: FloatBytes.encode(p.values)))
        }
        func source(_ s: GraphModel.Source) -> (String, [Int]) {
            switch s {
            case .input: return (input, [1] + model.inputShape)
            case .parameter(let p): return (p, params[p]?.shape ?? [])
            case .node(let n, let o): return (values[n][o], shapes[n][o])
            }
        }
        for (i, node) in model.nodes.enumerated() {
            let ins = node.inputs.map(source)
            let inShapes = ins.map(\.1)
            var outs: [String]
            let outShapes: [[Int]]
            do {
                if node.trainingOnly {
                    outs = [ins[0].0]
                } else if let r = node.running {
                    outs = [r.parameter]
                } else {
                    outs = try lower(node.op, ins.map(\.0), shapes: inShapes, into: &b)
                }
                outShapes = try node.op.outputShapes(inShapes)
            } catch let e as DataError {
                throw DataError("ONNX export: layer \(node.layer) (node \(i)): \(e.message)")
            } catch let e as BackendError {
                throw DataError("ONNX export: layer \(node.layer) (node \(i)): \(e.message)")
            }
            values.append(outs)
            shapes.append(outShapes)
        }
        let (last, outShape) = source(model.output)
        b.add("Identity", [last], output: "output")

        var file = ProtobufWriter()
        file.int(1, 8)  // ir_version
        file.string(2, "gpuflow")
        file.string(3, "1")
        file.message(7) { g in
            for n in b.nodes {
                g.message(1) { m in
                    for x in n.inputs { m.string(1, x) }
                    for y in n.outputs { m.string(2, y) }
                    m.string(3, n.outputs[0] + "_node")
                    m.string(4, n.op)
                    for (key, value) in n.attributes {
                        m.message(5) { a in
                            a.string(1, key)
                            switch value {
                            case .int(let v):
                                a.int(3, v)
                                a.int(20, 2)
                            case .float(let v):
                                a.float(2, v)
                                a.int(20, 1)
                            case .ints(let vs):
                                for v in vs { a.int(8, v) }
                                a.int(20, 7)
                            }
                        }
                    }
                }
            }
            g.string(2, name)
            for t in b.initializers {
                g.message(5) { m in
                    for d in t.dims { m.int(1, d) }
                    m.int(2, t.type.rawValue)
                    m.string(8, t.name)
                    m.data(9, t.raw)
                }
            }
            func valueInfo(_ field: Int, _ name: String, _ dims: [Int]) {
                g.message(field) { v in
                    v.string(1, name)
                    v.message(2) { type in
                        type.message(1) { tensor in
                            tensor.int(1, ElementType.float.rawValue)
                            tensor.message(2) { shape in
                                shape.message(1) { $0.string(2, "batch") }
                                for d in dims.dropFirst() { shape.message(1) { $0.int(1, d) } }
                            }
                        }
                    }
                }
            }
            valueInfo(11, "input", [1] + model.inputShape)
            valueInfo(12, "output", outShape)
        }
        file.message(8) { o in
            o.string(1, "")
            o.int(2, opset)
        }
        if let schema = model.schema, let json = try? StableJSON.encode(schema) {
            file.message(14) { entry in
                entry.string(1, "gpuflow.schema")
                entry.string(2, String(decoding: json, as: UTF8.self))
            }
        }
        return file.bytes
    }

    /// The ONNX nodes of one op; returns the names of its outputs.
    static func lower(_ op: Op, _ x: [String], shapes: [[Int]], into b: inout Builder) throws -> [String] {
        func swapLast(_ name: String, rank: Int) -> String {
            b.add("Transpose", [name], [("perm", .ints(Array(0..<(rank - 2)) + [rank - 1, rank - 2]))])
        }
        switch op {
        case .unary(let u): return [unary(u, x[0], into: &b)]
        case .binary(let f):
            switch f {
            case .add: return [b.add("Add", x)]
            case .sub: return [b.add("Sub", x)]
            case .mul: return [b.add("Mul", x)]
            case .div: return [b.add("Div", x)]
            case .maximum: return [b.add("Max", x)]
            case .minimum: return [b.add("Min", x)]
            case .equal: return [b.add("Cast", [b.add("Equal", x)], [("to", .int(ElementType.float.rawValue))])]
            }
        case .reduce(let r, let axis):
            switch r {
            case .sum: return [b.add("ReduceSum", [x[0], b.ints([axis])], [("keepdims", .int(1))])]
            case .mean: return [b.add("ReduceMean", [x[0]], [("axes", .ints([axis])), ("keepdims", .int(1))])]
            case .max: return [b.add("ReduceMax", [x[0]], [("axes", .ints([axis])), ("keepdims", .int(1))])]
            case .argmax:
                let arg = b.add("ArgMax", [x[0]], [("axis", .int(axis)), ("keepdims", .int(1)), ("select_last_index", .int(0))])
                return [b.add("Cast", [arg], [("to", .int(ElementType.float.rawValue))])]
            }
        case .broadcast(let shape): return [b.add("Expand", [x[0], b.ints(shape)])]
        case .matmul(let ta, let tb):
            let a = ta ? swapLast(x[0], rank: shapes[0].count) : x[0]
            let c = tb ? swapLast(x[1], rank: shapes[1].count) : x[1]
            return [b.add("MatMul", [a, c])]
        case .reshape(let shape): return [b.add("Reshape", [x[0], b.ints(shape)])]
        case .permute(let perm): return [b.add("Transpose", [x[0]], [("perm", .ints(perm))])]
        case .slice(let axis, let start, let count):
            return [b.add("Slice", [x[0], b.ints([start]), b.ints([start + count]), b.ints([axis])])]
        case .concat(let axis): return [b.add("Concat", x, [("axis", .int(axis))])]
        case .softmax(let axis): return [b.add("Softmax", [x[0]], [("axis", .int(axis))])]
        case .logSoftmax(let axis): return [b.add("LogSoftmax", [x[0]], [("axis", .int(axis))])]
        case .layerNorm(let eps):
            let y = b.fresh("layer_norm"), mean = b.fresh("layer_norm_mean"), rstd = b.fresh("layer_norm_rstd")
            b.nodes.append(
                Node(
                    op: "LayerNormalization", inputs: x, outputs: [y, mean, rstd],
                    attributes: [("axis", .int(-1)), ("epsilon", .float(eps))]))
            return [y, mean, rstd]
        case .dropout: return [x[0]]  // the identity at inference
        case .gather:
            let indices = b.add("Cast", [x[1]], [("to", .int(ElementType.int64.rawValue))])
            return [b.add("Gather", [x[0], indices], [("axis", .int(0))])]
        case .biasActivation(let f):
            let pre = b.add("Add", x)
            let y: String
            switch f {
            case .identity: y = b.add("Identity", [pre])
            case .relu: y = b.add("Relu", [pre])
            case .tanh: y = b.add("Tanh", [pre])
            case .sigmoid: y = b.add("Sigmoid", [pre])
            case .gelu: y = unary(.geluTanh, pre, into: &b)  // the fixed pipeline's GELU is the tanh form
            }
            return [y, pre]
        case .conv2d(let g):
            // gpuflow's [g, C/g·kh·kw, O/g] (or [C·kh·kw, O]) to ONNX's [O, C/g, kh, kw].
            let kh = g.kernel[0], kw = g.kernel[1]
            let split = b.add("Reshape", [x[1], b.ints([g.groups, g.groupChannels, kh, kw, g.groupOutputs])])
            let moved = b.add("Transpose", [split], [("perm", .ints([0, 4, 1, 2, 3]))])
            let weight = b.add("Reshape", [moved, b.ints([g.outputs, g.groupChannels, kh, kw])])
            return [
                b.add(
                    "Conv", [x[0], weight],
                    [
                        ("kernel_shape", .ints([kh, kw])), ("strides", .ints(g.stride)), ("dilations", .ints(g.dilation)),
                        ("pads", .ints([g.padding[0], g.padding[1], g.padding[0], g.padding[1]])), ("group", .int(g.groups)),
                    ])
            ]
        case .unaryGrad, .sumTo, .unslice, .softmaxGrad, .layerNormGrad, .scatterAdd, .biasActivationGrad, .conv2dGradInput,
            .conv2dGradWeight:
            throw DataError("op \(op.name) has no ONNX form in this exporter (it belongs to training, not to a model's inference)")
        }
    }

    static func unary(_ u: UnaryOp, _ x: String, into b: inout Builder) -> String {
        switch u {
        case .neg: return b.add("Neg", [x])
        case .exp: return b.add("Exp", [x])
        case .log: return b.add("Log", [x])
        case .sqrt: return b.add("Sqrt", [x])
        case .abs: return b.add("Abs", [x])
        case .square: return b.add("Mul", [x, x])
        case .reciprocal: return b.add("Reciprocal", [x])
        case .relu: return b.add("Relu", [x])
        case .sigmoid: return b.add("Sigmoid", [x])
        case .tanh: return b.add("Tanh", [x])
        case .silu: return b.add("Mul", [x, b.add("Sigmoid", [x])])
        case .leakyRelu(let slope): return b.add("LeakyRelu", [x], [("alpha", .float(slope))])
        case .scale(let c): return b.add("Mul", [x, b.scalar(c)])
        case .add(let c): return b.add("Add", [x, b.scalar(c)])
        case .gelu:  // x · Φ(x) = x/2 · (1 + erf(x/√2)); Gelu itself arrives in opset 20
            let erf = b.add("Erf", [b.add("Mul", [x, b.scalar(Float(1 / 2.0.squareRoot()))])])
            return b.add("Mul", [b.add("Mul", [x, b.scalar(0.5)]), b.add("Add", [erf, b.scalar(1)])])
        case .geluTanh:  // x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))
            let cube = b.add("Mul", [b.add("Mul", [x, x]), x])
            let inner = b.add("Add", [x, b.add("Mul", [cube, b.scalar(0.044715)])])
            let t = b.add("Tanh", [b.add("Mul", [inner, b.scalar(Float((2 / Double.pi).squareRoot()))])])
            return b.add("Mul", [b.add("Mul", [x, b.scalar(0.5)]), b.add("Add", [t, b.scalar(1)])])
        }
    }
}
