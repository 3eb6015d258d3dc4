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
        return try Safetensors.write(
            model.parameters.map { ($0.name, $0.shape, $0.values) }, metadata: [metadataKey: graph, "gpuflow.format": "2"])
    }

    /// Whether the bytes are a gpuflow graph file (a safetensors file whose metadata holds the
    /// graph) rather than weights alone, such as a PyTorch state dict.
    public static func holdsGraph(_ bytes: [UInt8]) -> Bool { Safetensors.metadataValue(bytes, key: metadataKey) != nil }

    /// Reads a version-2 file; `file` names it in errors.
    public static func decode(_ bytes: [UInt8], file: String) throws -> GraphModel {
        func fail(_ what: String) -> DataError { DataError(file: file, "not a gpuflow graph model (safetensors): \(what)") }
        let read: Safetensors.File
        do { read = try Safetensors.read(bytes, file: file) } catch let e as DataError { throw fail(e.message) }
        guard let graph = read.metadata[metadataKey] else {
            throw fail(
                "no \(metadataKey) in __metadata__ (a safetensors file from another tool holds weights, not a graph: give the architecture, nn.load(path, {model = m}))"
            )
        }
        var model: GraphModel
        do { model = try JSONDecoder().decode(GraphModel.self, from: Data(graph.utf8)) } catch {
            throw fail("its graph does not decode: \(error)")
        }
        for i in model.parameters.indices {
            let p = model.parameters[i]
            guard let t = read[p.name] else { throw fail("no tensor entry for parameter \(p.name)") }
            guard t.dtype == DType.f32.safetensorsName, let values = t.values else {
                throw fail("\(p.name) is \(t.dtype); gpuflow reads F32")
            }
            guard t.shape == p.shape else { throw fail("\(p.name) has shape \(t.shape) in the header and \(p.shape) in the graph") }
            model.parameters[i].values = values
        }
        _ = try model.outputShape(rows: 1)
        let columns = model.inputShape.reduce(1, *)
        if let schema = model.schema, schema.preprocessing.contains(where: { !$0.fits(columns: columns) }) {
            throw fail("its schema's scalings do not fit the model's \(columns) input values")
        }
        return model
    }
}
