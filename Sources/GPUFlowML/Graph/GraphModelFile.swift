import Foundation
import GPUFlowCompute
import GPUFlowCore

/// Model files, version 2: the safetensors layout (an 8-byte little-endian header length, a
/// JSON header naming each tensor's dtype, shape and byte range, then the raw little-endian
/// data), so PyTorch, MLX and the `safetensors` package read the weights as they are. The graph
/// (every node and parameter, without values) travels in the header's `__metadata__` under
/// `gpuflow.graph`, with `gpuflow.format` = "2"; tensors are laid out in the graph's parameter
/// order, which a reader gets back exactly.
public enum GraphModelFile {
    public static let metadataKey = "gpuflow.graph"

    public static func encode(_ model: GraphModel) throws -> [UInt8] {
        var skeleton = model
        for i in skeleton.parameters.indices { skeleton.parameters[i].values = [] }
        let graph = String(decoding: try StableJSON.encode(skeleton), as: UTF8.self)
        var header: [String: Any] = ["__metadata__": [metadataKey: graph, "gpuflow.format": "2"]]
        var offset = 0
        for p in model.parameters {
            let bytes = p.values.count * 4
            header[p.name] =
                ["dtype": DType.f32.safetensorsName, "shape": p.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // The format pads the header with spaces to a multiple of 8 so the data is aligned.
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        for p in model.parameters { out.append(contentsOf: FloatBytes.encode(p.values)) }
        return out
    }

    /// Reads a version-2 file; `file` names it in errors.
    public static func decode(_ bytes: [UInt8], file: String) throws -> GraphModel {
        func fail(_ what: String) -> DataError { DataError(file: file, "not a gpuflow graph model (safetensors): \(what)") }
        guard bytes.count >= 8 else { throw fail("\(bytes.count) bytes, shorter than the 8-byte header length") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(bytes.count - 8), n < 100_000_000 else {
            throw fail("header length \(n) runs past the file's \(bytes.count) bytes")
        }
        let headerEnd = 8 + Int(n)
        guard let header = try? JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        guard let meta = header["__metadata__"] as? [String: String], let graph = meta[metadataKey] else {
            throw fail("no \(metadataKey) in __metadata__ (a safetensors file from another tool holds weights, not a graph)")
        }
        var model: GraphModel
        do { model = try JSONDecoder().decode(GraphModel.self, from: Data(graph.utf8)) } catch {
            throw fail("its graph does not decode: \(error)")
        }
        let data = bytes.count - headerEnd
        for i in model.parameters.indices {
            let p = model.parameters[i]
            guard let entry = header[p.name] as? [String: Any], let dtype = entry["dtype"] as? String, let shape = entry["shape"] as? [Int],
                let range = entry["data_offsets"] as? [Int], range.count == 2
            else { throw fail("no tensor entry for parameter \(p.name)") }
            guard dtype == DType.f32.safetensorsName else { throw fail("\(p.name) is \(dtype); gpuflow reads F32") }
            guard shape == p.shape else { throw fail("\(p.name) has shape \(shape) in the header and \(p.shape) in the graph") }
            let count = Shapes.count(shape)
            guard range[0] >= 0, range[1] - range[0] == count * 4, range[1] <= data else {
                throw fail("\(p.name)'s bytes \(range) do not hold \(count) floats in \(data) bytes of data")
            }
            let values = FloatBytes.decode(bytes, offset: headerEnd + range[0], count: count)
            if let bad = values.firstIndex(where: { !$0.isFinite }) { throw fail("\(p.name) holds \(values[bad]) at element \(bad)") }
            model.parameters[i].values = values
        }
        _ = try model.outputShape(rows: 1)
        return model
    }
}
