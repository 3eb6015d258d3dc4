import Foundation
import GPUFlowCompute
import GPUFlowML
import GPUFlowTesting
import Testing

/// Version-2 model files are safetensors: the `safetensors` package (PyPI, installed into
/// .test-venv by scripts/test) reads the weights as they are, and gpuflow reads its files back
/// to the same model.
@Suite struct GraphModelFileTests {
    static let python = TestPaths.repository.appendingPathComponent(".test-venv/bin/python").path
    static var hasSafetensors: Bool {
        guard FileManager.default.isExecutableFile(atPath: python) else { return false }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", "import safetensors"]
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    @Test func aGraphModelRoundTrips() throws {
        let m = try GraphModelTests.residualNet(inputs: 4, classes: 3)
        let bytes = try GraphModelFile.encode(m)
        #expect(try GraphModelFile.decode(bytes, file: "m.safetensors") == m)
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.1) << (8 * $1.0) }
        #expect((8 + headerLength) % 8 == 0, "the data starts 8-byte aligned")
    }

    @Test(.enabled(if: hasSafetensors, "the safetensors package is not in .test-venv (scripts/test installs it from PyPI)"))
    func theSafetensorsPackageReadsTheWeights() throws {
        let m = try GraphModelTests.residualNet(inputs: 4, classes: 3)
        let path = try TestPaths.temporaryDirectory().appendingPathComponent("m.safetensors").path
        try Data(try GraphModelFile.encode(m)).write(to: URL(fileURLWithPath: path))
        let script = """
            import json, struct, sys, safetensors
            data = open(sys.argv[1], 'rb').read()
            out = {}
            for name, t in safetensors.deserialize(data):
                raw = bytes(t['data'])
                out[name] = {'dtype': t['dtype'], 'shape': list(t['shape']), 'values': list(struct.unpack('<%df' % (len(raw) // 4), raw))}
            n = struct.unpack('<Q', data[:8])[0]
            out['__metadata__'] = json.loads(data[8:8 + n])['__metadata__']
            print(json.dumps(out))
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.python)
        p.arguments = ["-c", script, path]
        let pipe = Pipe(), err = Pipe()
        p.standardOutput = pipe
        p.standardError = err
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        try #require(p.terminationStatus == 0, "python: \(stderr)")
        let read = try #require(try JSONSerialization.jsonObject(with: out) as? [String: Any])
        for param in m.parameters {
            let t = try #require(read[param.name] as? [String: Any], "safetensors did not list \(param.name)")
            #expect(t["dtype"] as? String == "float32" || t["dtype"] as? String == "F32", "\(t["dtype"] ?? "")")
            #expect(t["shape"] as? [Int] == param.shape)
            #expect((t["values"] as? [Double])?.map { Float($0) } == param.values, "\(param.name): values as written")
        }
        let meta = try #require(read["__metadata__"] as? [String: String])
        #expect(meta["gpuflow.format"] == "2" && meta[GraphModelFile.metadataKey]?.contains("layer_norm1") == true)
    }

    @Test func damagedFilesAreRefusedWithWhatIsWrong() throws {
        let m = try GraphModelTests.residualNet(inputs: 4, classes: 3)
        let bytes = try GraphModelFile.encode(m)
        #expect { try GraphModelFile.decode(Array(bytes.prefix(5)), file: "short.safetensors") } throws: {
            "\($0)".contains("short.safetensors") && "\($0)".contains("8-byte")
        }
        #expect { try GraphModelFile.decode(Array(bytes.dropLast(4)), file: "cut.safetensors") } throws: { "\($0)".contains("do not hold") }
        // A safetensors file from another tool has weights and no graph.
        let header = Array(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.utf8)
        var foreign = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header
        foreign += [0, 0, 128, 63]
        #expect { try GraphModelFile.decode(foreign, file: "torch.safetensors") } throws: { "\($0)".contains("no gpuflow.graph") }
    }
}
