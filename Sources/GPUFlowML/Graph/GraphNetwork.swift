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

    /// Written beside and renamed into place.
    public func save(to path: String) throws {
        try ModelFiles.writeAtomically(Data(try GraphModelFile.encode(graph)), to: path, what: "the model file")
    }

    /// Whether these bytes are a version-2 (safetensors) model file rather than a .gfmodel.
    public static func isGraphFile(_ bytes: [UInt8]) -> Bool { !bytes.starts(with: Array("GFMODEL1".utf8)) }
}
