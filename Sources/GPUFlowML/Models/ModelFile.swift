import Foundation
import GPUFlowCompute
import GPUFlowCore

/// The `.gfmodel` file format: weights bit-identical after a round trip, checked by a hash.
///
///     bytes 0..7    magic "GFMODEL1"
///     bytes 8..11   UInt32 little-endian: length H of the header
///     H bytes       UTF-8 JSON header: {"format": 1, "id": "mlp-…", "layers": [{"inputs", "outputs", "activation"}, …]}
///     the rest      float32 little-endian: each layer's weights (inputs×outputs, row-major), then its bias
///
/// The id is the model's content hash (MLPModel.objectID); loading recomputes it from the
/// floats read and refuses a file whose weights do not hash to it.
public enum ModelFile {
    static let magic = Array("GFMODEL1".utf8)

    struct Header: Codable {
        struct Layer: Codable {
            let inputs: Int
            let outputs: Int
            let activation: String
        }
        let format: Int
        let id: String
        let layers: [Layer]
        /// Absent in files of models never trained (and in files written before it existed).
        var schema: ModelSchema? = nil
    }

    /// The file's bytes for a model.
    public static func encode(_ model: MLPModel) throws -> [UInt8] {
        let header = Header(
            format: 1, id: model.objectID,
            layers: model.layers.map { .init(inputs: $0.inputs, outputs: $0.outputs, activation: $0.activation.rawValue) },
            schema: model.schema)
        // The same model gives the same bytes in every process (its content hash).
        let json = [UInt8](try StableJSON.encode(header))
        var bytes = magic
        let n = UInt32(json.count)
        bytes += [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)]
        bytes += json
        for l in model.layers { FloatBytes.encode(l.weights + l.bias, into: &bytes) }
        return bytes
    }

    public static func save(_ model: MLPModel, to path: String) throws {
        try ModelFiles.writeAtomically(Data(try encode(model)), to: path, what: "the model file")
    }

    public static func load(path: String) throws -> MLPModel {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "cannot read model file (missing or unreadable)")
        }
        return try decode([UInt8](data), file: path)
    }

    /// A model from the file's bytes; `file` names the source in errors.
    public static func decode(_ bytes: [UInt8], file path: String) throws -> MLPModel {
        guard bytes.count >= 12, Array(bytes[0..<8]) == magic else {
            throw DataError(file: path, "not a gpuflow model file (bad magic at offset 0)")
        }
        let headerLength = Int(UInt32(bytes[8]) | UInt32(bytes[9]) << 8 | UInt32(bytes[10]) << 16 | UInt32(bytes[11]) << 24)
        guard 12 + headerLength <= bytes.count else {
            throw DataError(file: path, "header of \(headerLength) bytes runs past the end of the file (offset 8)")
        }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[12..<(12 + headerLength)]))
        } catch {
            throw DataError(file: path, "unreadable header at offset 12: \(error)")
        }
        guard header.format == 1 else { throw DataError(file: path, "model format \(header.format) is not supported (1 is)") }
        guard !header.layers.isEmpty else { throw DataError(file: path, "the model has no layers") }
        var offset = 12 + headerLength
        var layers: [MLPModel.Layer] = []
        for (i, l) in header.layers.enumerated() {
            guard l.inputs > 0, l.outputs > 0, let act = Activation(rawValue: l.activation) else {
                throw DataError(
                    file: path, "layer \(i + 1) of the header is invalid (\(l.inputs)×\(l.outputs), activation '\(l.activation)')")
            }
            if i > 0, header.layers[i - 1].outputs != l.inputs {
                throw DataError(file: path, "layer \(i + 1) takes \(l.inputs) inputs but layer \(i) gives \(header.layers[i - 1].outputs)")
            }
            // The header may claim any size: products without overflow, bounded by the file.
            let (weights, o1) = l.inputs.multipliedReportingOverflow(by: l.outputs)
            let (count, o2) = weights.addingReportingOverflow(l.outputs)
            let (needed, o3) = count.multipliedReportingOverflow(by: 4)
            guard !o1, !o2, !o3, l.inputs <= 1 << 24, l.outputs <= 1 << 24, offset + needed <= bytes.count else {
                throw DataError(file: path, "weights of layer \(i + 1) run past the end of the file (offset \(offset))")
            }
            let values = FloatBytes.decode(bytes, offset: offset, count: count)
            offset += 4 * count
            layers.append(
                MLPModel.Layer(
                    inputs: l.inputs, outputs: l.outputs, weights: Array(values[0..<(l.inputs * l.outputs)]),
                    bias: Array(values[(l.inputs * l.outputs)...]), activation: act))
        }
        guard offset == bytes.count else {
            throw DataError(file: path, "\(bytes.count - offset) unexpected bytes after the weights (offset \(offset))")
        }
        if let schema = header.schema,
            schema.featureNames.count != layers[0].inputs
                || schema.preprocessing.contains(where: { !$0.fits(columns: layers[0].inputs) })
        {
            throw DataError(file: path, "the header's schema does not fit the model's \(layers[0].inputs) inputs")
        }
        let model = MLPModel(layers: layers, schema: header.schema)
        guard model.objectID == header.id else {
            throw DataError(file: path, "weights hash to \(model.objectID) but the header says \(header.id): the file is corrupt")
        }
        return model
    }
}
