import Foundation
import GPUFlowCore
import Testing

@testable import GPUFlowLua
@testable import GPUFlowML

/// A data set cached by a stage comes back whole: a cache hit must not turn several targets
/// per row into one label, images into rows, or categorical columns into plain numbers.
@Suite struct StageCodecTests {
    @Test func aCachedDataSetKeepsTargetsShapeAndCategories() throws {
        let d = Dataset(
            features: (0..<12).map(Float.init), rows: 2, cols: 6, labels: [1, 0], featureNames: (1...6).map { "f\($0)" },
            categories: [CategoricalColumn(name: "f1", column: 0, values: ["a", "b"])], source: "t", sampleShape: [2, 3],
            targets: [1, 0, 0, 1])
        let back = try DatasetCodec.decode(try DatasetCodec.encode(d))
        #expect(back.objectID == d.objectID)
        #expect(back.targets == d.targets && back.sampleShape == [2, 3] && back.categories == d.categories)
        // A plain data set encodes as it did before these fields existed, so stored entries stay valid.
        let plain = Dataset(features: [1, 2], rows: 1, cols: 2, labels: [0], source: "p")
        let json = try #require(String(data: try DatasetCodec.encode(plain), encoding: .utf8))
        #expect(!json.contains("targets") && !json.contains("sampleShape") && !json.contains("categories"))
    }

    @Test func aDamagedEntryIsRefused() throws {
        let d = Dataset(
            features: [1, 2, 3, 4], rows: 2, cols: 2, labels: [0, 1], source: "t", sampleShape: [1, 2], targets: [0, 1, 1, 0])
        var json = try #require(String(data: try DatasetCodec.encode(d), encoding: .utf8))
        json = json.replacingOccurrences(of: "\"sampleShape\":[1,2]", with: "\"sampleShape\":[3,2]")
        #expect(throws: DataError.self) { _ = try DatasetCodec.decode(Data(json.utf8)) }
    }
}
