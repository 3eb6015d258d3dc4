import Foundation

/// Where stage results keep their models and data sets by content hash: the run store on one
/// machine, or a run directory that every node of a cluster shares.
public protocol ArtifactStore: Sendable {
    func putArtifact(_ data: Data, kind: String) throws -> String
    func artifact(_ hash: String) throws -> Data
}

extension RunStore: ArtifactStore {}
