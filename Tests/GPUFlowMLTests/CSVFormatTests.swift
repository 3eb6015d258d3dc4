import Foundation
import GPUFlowML
import GPUFlowTesting
import Testing

/// RFC 4180 quoting, the delimiter / header / missing options, categorical columns and the
/// refusal of non-finite cells, each through `CSVLoader` as data.csv calls it.
@Suite struct CSVFormatTests {
    private func load(_ text: String, _ options: CSVOptions = CSVOptions()) throws -> Dataset {
        try CSVLoader.parse(text, file: "t.csv", options: options)
    }

    private func error(_ text: String, _ options: CSVOptions = CSVOptions()) -> String? {
        do {
            _ = try load(text, options)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func quotedFieldsWithCommasQuotesAndLineBreaks() throws {
        let text = "\"size, cm\",\"note\",\"label\"\n\"1.5\",\"say \"\"hi\"\", then go\",0\n2,\"two\nlines, and a comma\",1\n3,plain,0\n"
        let d = try load(text)
        #expect(d.featureNames == ["size, cm", "note"] && d.labelName == "label")
        #expect(d.features == [1.5, 0, 2, 1, 3, 2] && d.labels == [0, 1, 0])
        #expect(
            d.categories == [
                CategoricalColumn(name: "note", column: 1, values: ["say \"hi\", then go", "two\nlines, and a comma", "plain"])
            ])
    }

    @Test func linesAreCountedAcrossQuotedLineBreaks() throws {
        // The quoted cell spans lines 2–3, so the ragged row is on line 5.
        let e = try #require(error("a,b,label\n1,\"x\ny\",0\n2,z,1\n3,0\n"))
        #expect(e == "t.csv:5: ragged row: 2 fields, the header has 3")
    }

    @Test func malformedQuotingNamesLineAndColumn() throws {
        #expect(try #require(error("a,label\n1,0\n2\"x,1\n")).hasPrefix("t.csv:3:2: malformed quoting"))
        #expect(try #require(error("a,label\n1,\"0\n")).hasPrefix("t.csv:2: a quoted field is still open at the end of the file"))
    }

    @Test func delimiterAndHeaderOptions() throws {
        let semi = try load("a;b;label\n1,5;2;0\n", CSVOptions(delimiter: UInt8(ascii: ";")))
        #expect(semi.featureNames == ["a", "b"] && semi.categories.first?.values == ["1,5"] && semi.features == [0, 2])
        let tab = try load("a\tb\tlabel\n 1 \t2\t1\n", CSVOptions(delimiter: 0x09))
        #expect(tab.features == [1, 2] && tab.labels == [1])
        let bare = try load("1,2,0\n3,4,1\n", CSVOptions(label: .index(0), header: false))
        #expect(
            bare.rows == 2 && bare.featureNames == ["2", "3"] && bare.labelName == "1" && bare.features == [2, 0, 4, 1]
                && bare.labels == [1, 3])
        #expect(throws: DataError.self) { try CSVOptions.delimiter("\"") }
        #expect(throws: DataError.self) { try CSVOptions.delimiter(";;") }
    }

    @Test func nonFiniteCellsAreRefusedWithLineAndColumn() throws {
        #expect(
            error("a,b,label\n1,2,0\n1,nan,1\n")
                == "t.csv:3:2: column 'b' holds 'nan', which is not a finite number (NaN and ±Inf are refused; outside float32's ±3.4e38 too)"
        )
        #expect(try #require(error("a,b,label\n1,-inf,0\n")).hasPrefix("t.csv:2:2: column 'b' holds '-inf'"))
        #expect(try #require(error("a,b,label\n1,1e39,0\n")).hasPrefix("t.csv:2:2: column 'b' holds '1e39', which is not a finite number"))
    }

    @Test func missingCellsAreAnErrorUnlessDroppedOrFilled() throws {
        let text = "a,kind,label\n1,x,0\n,y,1\n3,NA,0\n5,y,1\n"
        #expect(
            try #require(error(text)).hasPrefix("t.csv:3:1: column 'a' is missing a value (an empty cell or 'NA'); give missing = \"drop\"")
        )
        let dropped = try load(text, CSVOptions(missing: .drop))
        #expect(dropped.rows == 2 && dropped.features == [1, 0, 5, 1] && dropped.labels == [0, 1])
        #expect(dropped.source == "t.csv (missing=drop: 2 of 4 rows dropped)")
        let filled = try load(text, CSVOptions(missing: .mean))
        // a: mean of 1, 3, 5 = 3; kind: y (code 1) is the most frequent.
        #expect(filled.rows == 4 && filled.features == [1, 0, 3, 1, 3, 1, 5, 1])
        #expect(try #require(error("a,label\n1,\n", CSVOptions(missing: .mean))).hasPrefix("t.csv:2:2: the label ('label') is missing"))
        #expect(try load("a,label\n1,\n2,1\n", CSVOptions(missing: .drop)).labels == [1])
        #expect(try load("a,label\n?,0\n2,1\n", CSVOptions(missing: .drop, missingMarkers: ["?"])).rows == 1)
    }

    @Test func penguinsHaveCategoricalColumnsAndMissingValues() throws {
        let path = TestPaths.sharedData("penguins.csv")
        let e = try #require(throws: DataError.self) { try CSVLoader.load(path: path, options: CSVOptions(label: .name("species"))) }
        #expect(e.line == 5 && e.column == 3 && e.description.contains("column 'bill_length_mm' is missing a value"))
        let d = try CSVLoader.load(path: path, options: CSVOptions(label: .name("species"), missing: .drop))
        #expect(d.rows == 333 && d.cols == 7 && d.classNames == ["Adelie", "Gentoo", "Chinstrap"])
        #expect(d.categories.map(\.name) == ["island", "sex"] && d.categories.map(\.column) == [0, 5])
        #expect(d.categories[0].values == ["Torgersen", "Biscoe", "Dream"] && d.categories[1].values == ["male", "female"])
        let filled = try CSVLoader.load(path: path, options: CSVOptions(label: .name("species"), missing: .mean))
        #expect(filled.rows == 344 && filled.features.allSatisfy(\.isFinite))
        // Codes survive standardizing; the numeric columns do not keep their units.
        let s = filled.standardized()
        #expect((0..<s.rows).allSatisfy { s.features[$0 * s.cols] == filled.features[$0 * s.cols] })
        #expect(s.features[1] != filled.features[1])
    }

    @Test func theFingerprintFollowsTheCodeTables() throws {
        let a = try load("k,label\nx,0\ny,1\n"), b = try load("k,label\np,0\nq,1\n")
        #expect(a.features == b.features && a.fingerprint != b.fingerprint)
        let numeric = try load("k,label\n0,0\n1,1\n")
        #expect(numeric.features == a.features && numeric.fingerprint != a.fingerprint)
        #expect(numeric.fingerprint == Dataset(features: [0, 1], rows: 2, cols: 1, labels: [0, 1], source: "x").fingerprint)
    }

    @Test func blankLinesAndAByteOrderMarkAreSkipped() throws {
        let d = try load("\u{FEFF}a,label\n1,0\n\n   \n2,1\n\n")
        #expect(d.featureNames == ["a"] && d.rows == 2 && d.features == [1, 2])
    }
}
