import Foundation
import GPUFlowCore

/// A graph model as a task value: what `nn.sequential` returns, a training task takes and
/// returns trained, and the run store records (as a version-2 model file).
public final class GraphNetwork: TaskObject, @unchecked Sendable {
    public let kind = "model"
    public let graph: GraphModel
    /// "graph-" and the first 12 hex digits of the graph's content hash.
    public var objectID: String { id.get { "graph-" + String(graph.contentHash.prefix(12)) } }
    private let id = OnceCell<String>()

    public init(_ graph: GraphModel) { self.graph = graph }

    public var inputs: Int { graph.inputShape.last ?? 0 }
    public var outputs: Int { (try? graph.outputShape(rows: 1).last) ?? 0 }
    public var parameterCount: Int { graph.parameterCount }
    /// Layer names in order, each once.
    public var layers: [String] {
        var seen = Set<String>()
        return graph.nodes.map(\.layer).filter { seen.insert($0).inserted }
    }

    public static func load(path: String) throws -> GraphNetwork {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "cannot read the model file (missing or unreadable)")
        }
        return GraphNetwork(try GraphModelFile.decode([UInt8](data), file: path))
    }

    /// Written beside and renamed into place.
    public func save(to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(try GraphModelFile.encode(graph))), rename(tmp, path) == 0 else {
            try? FileManager.default.removeItem(atPath: tmp)
            throw DataError(file: path, "cannot write the model file")
        }
    }

    /// Whether these bytes are a version-2 (safetensors) model file rather than a .gfmodel.
    public static func isGraphFile(_ bytes: [UInt8]) -> Bool { !bytes.starts(with: Array("GFMODEL1".utf8)) }
}
