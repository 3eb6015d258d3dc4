/// A feature column read from text.
///
/// Each distinct value became an integer code (0, 1, ... in
/// order of first appearance), kept with the data set so scripts (and, later, embedding layers)
/// can map codes back to values. Standardizing and normalizing leave these columns' codes alone.
public struct CategoricalColumn: Sendable, Equatable, Codable {
    public let name: String
    /// 0-based index among the data set's feature columns.
    public let column: Int
    /// The values in code order: `values[code]`.
    public let values: [String]

    public init(name: String, column: Int, values: [String]) {
        self.name = name
        self.column = column
        self.values = values
    }
}
