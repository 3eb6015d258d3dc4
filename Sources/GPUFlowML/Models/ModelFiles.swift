import Foundation
import GPUFlowCore

/// A model object as file bytes and back, whichever kind it is: version 1 (.gfmodel) for an
/// MLP, version 2 (the safetensors layout) for a graph. The run store's records, the stage
/// cache and `nn.load` all go through here, so a new kind of model is added in one place.
public enum ModelFiles {
    /// The object's file bytes; nil when it is not a model.
    public static func encode(_ object: AnyObject) throws -> Data? {
        if let m = object as? MLPModel { return Data(try ModelFile.encode(m)) }
        if let g = object as? GraphNetwork { return Data(try GraphModelFile.encode(g.graph)) }
        return nil
    }

    /// A model from its file bytes (either version); `file` names the source in errors.
    public static func decode(_ bytes: [UInt8], file: String) throws -> any TaskObject {
        GraphNetwork.isGraphFile(bytes)
            ? GraphNetwork(try GraphModelFile.decode(bytes, file: file)) : try ModelFile.decode(bytes, file: file)
    }

    /// A model file of either version from disk.
    public static func load(path: String) throws -> any TaskObject {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw DataError(file: path, "cannot read model file (missing or unreadable)")
        }
        return try decode([UInt8](bytes), file: path)
    }

    /// Written beside and renamed into place, so a crash never leaves half a file under the
    /// name; `what` names the file in errors ("the model file", "the checkpoint").
    public static func writeAtomically(_ data: Data, to path: String, what: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: data) else { throw DataError(file: path, "cannot write \(what)") }
        guard rename(tmp, path) == 0 else {
            try? FileManager.default.removeItem(atPath: tmp)
            throw DataError(file: path, "cannot move \(what) into place")
        }
    }
}
