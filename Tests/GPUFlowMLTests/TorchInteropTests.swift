import Foundation
import GPUFlowCompute
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// PyTorch state dicts in and out. The fixtures in Tests/Fixtures/torch were made by PyTorch
/// itself (`scripts/peers/torch_interop_peers.py make`): each network's state_dict saved by
/// safetensors' `save_file`, its inputs and the outputs PyTorch computed in eval mode. gpuflow
/// builds the same architecture, loads the state dict by the stated mapping and must give
/// PyTorch's outputs within 1e-5 on every backend. The reverse: a model gpuflow trains and
/// writes with `save_state_dict`, loaded by PyTorch's `load_state_dict(strict=True)`, whose
/// outputs PyTorch recorded (`read-gpuflow`).
@Suite struct TorchInteropTests {
    static let fixtures = TestPaths.repository.appendingPathComponent("Tests/Fixtures/torch").path
    static func fixture(_ name: String) -> String { fixtures + "/" + name }

    static func mlp() throws -> GraphModel {
        var b = GraphBuilder(inputShape: [4], seed: 1)
        try b.linear(outputs: 16)
        try b.activation(.relu)
        try b.linear(outputs: 16)
        try b.activation(.gelu)
        try b.layerNorm()
        try b.linear(outputs: 3)
        return b.finished()
    }

    static func cnn() throws -> GraphModel {
        var b = GraphBuilder(inputShape: [1, 8, 8], seed: 1)
        try b.conv2d(outputs: 4, kernel: (3, 3), padding: (1, 1))
        try b.batchNorm()
        try b.activation(.relu)
        try b.pool2d(.max, kernel: (2, 2))
        try b.conv2d(outputs: 8, kernel: (3, 3), padding: (1, 1), groups: 4)
        try b.activation(.silu)
        try b.pool2d(.mean, kernel: (2, 2))
        try b.flatten()
        try b.linear(outputs: 3)
        return b.finished()
    }

    /// GPT-2's layout under the PyTorch module's own names, so no mapping is needed.
    static func languageModel() throws -> GraphModel {
        var b = GraphBuilder(inputShape: [8], seed: 1)
        try b.tokenEmbedding(tokens: 11, dims: 16, name: "tok")
        try b.positionEmbedding(name: "pos")
        try b.transformerBlock(heads: 2, name: "block")
        try b.layerNorm(name: "ln_f")
        try b.linear(outputs: 11, name: "head")
        return b.finished()
    }

    static var cases: [(String, () throws -> GraphModel, StateDictMapping)] {
        [
            ("mlp", mlp, StateDictMapping(sequential: true)), ("cnn", cnn, StateDictMapping(sequential: true)),
            ("lm", languageModel, StateDictMapping()),
        ]
    }

    static func close(_ a: [Float], _ b: [Float], tolerance: Float = 1e-5) -> (Bool, Float) {
        guard a.count == b.count else { return (false, .infinity) }
        var worst: Float = 0
        var ok = true
        for (x, y) in zip(a, b) {
            worst = max(worst, abs(x - y))
            if abs(x - y) > tolerance * (1 + abs(y)) { ok = false }
        }
        return (ok, worst)
    }

    @Test(arguments: BackendUnderTest.allCases)
    func pytorchStateDictsGivePyTorchsOutputs(_ which: BackendUnderTest) throws {
        for (name, build, mapping) in Self.cases {
            let file = try Safetensors.read(path: Self.fixture("\(name).safetensors"))
            let model = try TorchStateDict.load(into: try build(), from: file, mapping: mapping, source: "\(name).safetensors")
            let x = try BinaryLoaders.npy(path: Self.fixture("\(name)_inputs.npy"))
            let want = try BinaryLoaders.npy(path: Self.fixture("\(name)_outputs.npy"))
            let backend = try which.make()
            let got = try backend.read(try GraphRunner(model, on: backend).predict(try backend.tensor(x.values, shape: x.shape)))
            let (ok, worst) = Self.close(got, want.values)
            #expect(ok, "\(name) on \(which): largest difference from PyTorch \(worst)")
        }
    }

    @Test func mismatchesAreRefusedWithTheTensorNamed() throws {
        let file = try Safetensors.read(path: Self.fixture("mlp.safetensors"))
        // A hidden layer of 17 units where PyTorch's has 16.
        var b = GraphBuilder(inputShape: [4], seed: 1)
        try b.linear(outputs: 17)
        try b.activation(.relu)
        try b.linear(outputs: 16)
        try b.activation(.gelu)
        try b.layerNorm()
        try b.linear(outputs: 3)
        #expect {
            try TorchStateDict.load(into: b.finished(), from: file, mapping: .init(sequential: true), source: "mlp.safetensors")
        } throws: {
            "\($0)".contains("tensor '0.weight' has shape [16, 4]") && "\($0)".contains("linear1.weight needs [17, 4]")
        }
        // Names that are not the file's: the error names the key looked for and what the file has.
        #expect { try TorchStateDict.load(into: try Self.mlp(), from: file, mapping: .init(), source: "mlp.safetensors") } throws: {
            "\($0)".contains("no tensor 'linear1.weight' for parameter linear1.weight") && "\($0)".contains("0.weight")
        }
        // A tensor the model has no place for (the CNN's file into the MLP's first layers).
        var short = GraphBuilder(inputShape: [4], seed: 1)
        try short.linear(outputs: 16)
        try short.activation(.relu)
        try short.linear(outputs: 16)
        #expect {
            try TorchStateDict.load(into: short.finished(), from: file, mapping: .init(sequential: true), source: "mlp.safetensors")
        } throws: {
            "\($0)".contains("tensor '4.") && "\($0)".contains("[16] has no parameter in the model")
        }
        let loose = try TorchStateDict.load(
            into: short.finished(), from: file, mapping: .init(sequential: true), strict: false, source: "mlp")
        #expect(
            loose.parameters[0].values == TorchStateDict.fromTorch(try #require(file["0.weight"]?.values), .linear(inputs: 4, outputs: 16)))
        // A layer the mapping names that the model does not have.
        #expect { try TorchStateDict.load(into: try Self.mlp(), from: file, mapping: .init(layers: ["fc9": "0"]), source: "m") } throws: {
            "\($0)".contains("no layer 'fc9'")
        }
    }

    @Test func exportIsPyTorchsLayoutAndReadsBackBitForBit() throws {
        for (name, build, mapping) in Self.cases {
            let model = try build()
            let bytes = try TorchStateDict.export(model, mapping: mapping)
            let file = try Safetensors.read(bytes, file: "\(name) export")
            let torch = try Safetensors.read(path: Self.fixture("\(name).safetensors"))
            // The same keys and shapes as PyTorch's own state_dict (less its batch counter).
            #expect(
                Set(file.tensors.map { "\($0.name) \($0.shape)" })
                    == Set(torch.tensors.filter { !$0.name.hasSuffix("num_batches_tracked") }.map { "\($0.name) \($0.shape)" }), "\(name)")
            let back = try TorchStateDict.load(into: try build(), from: file, mapping: mapping, source: name)
            #expect(back.parameters == model.parameters, "\(name): every parameter back bit for bit")
        }
        // The layouts: PyTorch's Linear weight is [out, in]; its Conv2d weight [O, C/g, kh, kw].
        let m = try Self.mlp()
        let w = try #require(m.parameters.first { $0.name == "linear1.weight" })
        let exported = try #require(
            try Safetensors.read(try TorchStateDict.export(m, mapping: .init(sequential: true)), file: "x")["0.weight"])
        #expect(exported.shape == [16, 4] && exported.values?[1 * 4 + 2] == w.values[2 * 16 + 1])
        let grouped = try Conv2DGeometry(channels: 4, height: 4, width: 4, outputs: 8, kernel: (3, 3), groups: 4)
        let v = (0..<grouped.weightShape.reduce(1, *)).map(Float.init)
        let t = TorchStateDict.toTorch(v, .conv(grouped))
        // Output 5 is group 2's second; its (c=0, ky=1, kx=2) entry is row 5 of group 2.
        #expect(t[5 * 9 + 5] == v[(2 * 9 + 5) * 2 + 1])
        #expect(TorchStateDict.fromTorch(t, .conv(grouped)) == v)
    }

    /// The reverse: PyTorch read the state dict gpuflow wrote for a model it trained on iris, and
    /// recorded its outputs; gpuflow's own outputs for that model must be PyTorch's.
    @Test func pytorchReadsWhatGpuflowWrote() throws {
        let file = try Safetensors.read(path: Self.fixture("gpuflow_iris.safetensors"))
        let graph = try GraphModelFile.decode(
            [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.fixture("gpuflow_iris_model.safetensors")))), file: "m")
        #expect(file.metadata["gpuflow.model"] == graph.contentHash, "the state dict is this model's")
        let x = try BinaryLoaders.npy(path: Self.fixture("gpuflow_iris_inputs.npy"))
        let want = try BinaryLoaders.npy(path: Self.fixture("gpuflow_iris_torch_outputs.npy"))
        let cpu = CPUBackend()
        let got = try cpu.read(try GraphRunner(graph, on: cpu).predict(try cpu.tensor(x.values, shape: x.shape)))
        let (ok, worst) = Self.close(got, want.values)
        #expect(ok, "largest difference from PyTorch \(worst)")
    }

    @Test func otherFloatTypesAreReadAndDamagedFilesRefused() throws {
        // F16 and BF16 tensors as safetensors writes them: 1.5 and -2 in each.
        func file(_ dtype: String, _ bytes: [UInt8]) -> [UInt8] {
            let header = Array(#"{"w":{"dtype":"\#(dtype)","shape":[2],"data_offsets":[0,\#(bytes.count)]}}"#.utf8)
            return withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header + bytes
        }
        #expect(try Safetensors.read(file("F16", [0x00, 0x3E, 0x00, 0xC0]), file: "h")["w"]?.values == [1.5, -2])
        #expect(try Safetensors.read(file("BF16", [0xC0, 0x3F, 0x00, 0xC0]), file: "b")["w"]?.values == [1.5, -2])
        #expect { try Safetensors.read(file("F16", [0x00, 0x7E, 0x00, 0xC0]), file: "nan.safetensors") } throws: {
            "\($0)".contains("nan.safetensors") && "\($0)".contains("tensor 'w'") && "\($0)".contains("nan")
        }
        #expect { try Safetensors.read(file("C64", [0, 0, 0, 0, 0, 0, 0, 0]), file: "c") } throws: { "\($0)".contains("dtype C64") }
        #expect { try Safetensors.read(file("F32", [0, 0, 0, 0]), file: "short") } throws: { "\($0)".contains("do not hold [2] of F32") }
    }
}
