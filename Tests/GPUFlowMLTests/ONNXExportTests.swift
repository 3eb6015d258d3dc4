import Foundation
import GPUFlowCompute
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// `model:export_onnx` checked by the ONNX tools themselves: `onnx.checker` (full check, shape
/// inference included) accepts each file and onnxruntime gives gpuflow's outputs within 1e-5
/// (scripts/peers/onnx_check.py), for a network of every op family gpuflow's layers use.
@Suite struct ONNXExportTests {
    static let ready = TestVenv.has("onnx", "onnxruntime", "numpy")
    static let checker = TestPaths.repository.appendingPathComponent("scripts/peers/onnx_check.py").path

    static func models() throws -> [(String, GraphModel)] {
        var out: [(String, GraphModel)] = [
            ("mlp", try TorchInteropTests.mlp()), ("cnn", try TorchInteropTests.cnn()), ("lm", try TorchInteropTests.languageModel()),
        ]
        // The remaining activations, dropout (the identity here), a residual, a concat of two
        // branches, a strided dilated convolution and a global average pool.
        var b = GraphBuilder(inputShape: [2, 9, 9], seed: 4)
        try b.conv2d(outputs: 4, kernel: (3, 3), stride: (2, 1), padding: (1, 2), dilation: (1, 2))
        try b.activation(.leakyRelu(slope: 0.1))
        try b.globalAvgPool()
        let trunk = b.cursor
        try b.linear(outputs: 6)
        try b.activation(.geluTanh)
        try b.dropout(p: 0.3)
        try b.residual { r in
            try r.linear(outputs: 6)
            try r.activation(.tanh)
        }
        let left = b.cursor
        b.cursor = trunk
        try b.linear(outputs: 3)
        try b.activation(.sigmoid)
        try b.concat([left, b.cursor])
        try b.linear(outputs: 2)
        out.append(("mixed", b.finished()))
        // Categorical columns embedded, with a standardize step in its schema (the file takes raw rows).
        var e = GraphBuilder(inputShape: [3], seed: 5)
        try e.embedding([(column: 1, cardinality: 3, dims: 2, name: "island")])
        try e.linear(outputs: 4)
        try e.activation(.silu)
        try e.linear(outputs: 3)
        out.append(("embedding", e.finished()))
        // The fixed MLP's graph (matmul and the fused bias + activation).
        out.append(("fixed_mlp", try GraphModel(mlp: MLPModel(inputs: 5, hidden: [7, 7], outputs: 2, activation: .gelu, seed: 2))))
        return out
    }

    static func inputs(for m: GraphModel, rows: Int) -> [Float] {
        let n = rows * m.inputShape.reduce(1, *)
        if m.isSequenceModel { return (0..<n).map { Float(($0 * 7 + 3) % 11) } }
        var v = OpSamples.values(n, seed: 17).map { $0 * 2 }
        if m.parameters.contains(where: { $0.name == "embedding1.island" }) { for r in 0..<rows { v[r * 3 + 1] = Float(r % 3) } }
        return v
    }

    @Test(.enabled(if: ready, "onnx and onnxruntime are not in .test-venv (scripts/test installs them from PyPI)"))
    func onnxruntimeGivesGpuflowsOutputs() throws {
        let dir = try TestPaths.temporaryDirectory()
        for (name, model) in try Self.models() {
            let rows = 5
            var x = Self.inputs(for: model, rows: rows)
            var graph = model
            if name == "embedding" {
                // The schema's scaling: ONNX takes the raw rows, gpuflow's graph the scaled ones.
                graph.schema = ModelSchema(
                    data: Dataset(features: [], rows: 0, cols: 3, labels: [], featureNames: ["a", "island", "b"], source: "t"),
                    loss: .cross_entropy)
                graph.schema?.preprocessing = [.standardize(mean: [1, 0, -2], std: [2, 1, 0.5])]
            }
            let cpu = CPUBackend()
            let scaled = graph.schema.map { s in s.preprocessing.reduce(x) { v, step in step.apply(v, cols: 3) } } ?? x
            let y = try cpu.read(try GraphRunner(graph, on: cpu).predict(try cpu.tensor(scaled, shape: [rows] + graph.inputShape)))
            let path = dir.appendingPathComponent("\(name).onnx").path
            try Data(try ONNXExport.encode(graph)).write(to: URL(fileURLWithPath: path))
            try TestVenv.writeNpy(x, shape: [rows] + graph.inputShape, to: path + ".x.npy")
            try TestVenv.writeNpy(y, shape: try graph.outputShape(rows: rows), to: path + ".y.npy")
            let r = try TestVenv.run([Self.checker, path, path + ".x.npy", path + ".y.npy"])
            #expect(r.status == 0, "\(name): \(r.stdout) \(r.stderr)")
            #expect(r.stdout.contains("\"checker\": \"ok\"") && r.stdout.contains("\"match\": true"), "\(name): \(r.stdout)")
            x.removeAll()
        }
    }

    @Test func opsWithoutAnONNXFormAreRefusedByName() throws {
        var m = try TorchInteropTests.mlp()
        m.nodes.append(
            GraphModel.Node(op: .scatterAdd(rows: 4), inputs: [m.output, .input], layer: "pool9", trainingOnly: false, running: nil))
        m.output = .node(m.nodes.count - 1, output: 0)
        #expect { try ONNXExport.encode(m) } throws: { "\($0)".contains("layer pool9") && "\($0)".contains("scatter_add has no ONNX form") }
    }
}
