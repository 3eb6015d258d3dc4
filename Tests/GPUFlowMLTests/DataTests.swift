import GPUFlowML
import GPUFlowTesting
import Testing

@Suite struct DataTests {
    @Test func loadsIris() throws {
        let d = try CSVLoader.load(path: TestPaths.sharedData("iris.csv"), label: .name("label"))
        #expect(d.rows == 150 && d.cols == 4)
        #expect(d.classCount == 3)
        #expect(d.featureNames == ["sepal_length", "sepal_width", "petal_length", "petal_width"])
        #expect(Array(d.row(0)) == [5.1, 3.5, 1.4, 0.2])
    }

    @Test func loadsWineAndBreastCancerWithTheLastColumnAsLabel() throws {
        let wine = try CSVLoader.load(path: TestPaths.sharedData("wine.csv"))
        #expect(wine.rows == 178 && wine.cols == 13 && wine.classCount == 3)
        let bc = try CSVLoader.load(path: TestPaths.sharedData("breast_cancer.csv"))
        #expect(bc.rows == 569 && bc.cols == 30 && bc.classCount == 2)
    }

    private func dataError(_ text: String, label: CSVLoader.LabelColumn = .last) -> DataError? {
        do {
            _ = try CSVLoader.parse(text, file: "bad.csv", label: label)
            return nil
        } catch let e as DataError {
            return e
        } catch {
            return nil
        }
    }

    @Test func raggedRowNamesFileAndLine() throws {
        let e = try #require(dataError("a,b,label\n1,2,0\n3,0\n"))
        #expect(e.description == "bad.csv:3: ragged row: 2 fields, the header has 3")
    }

    @Test func nonNumericCellNamesFileLineAndColumn() throws {
        let e = try #require(dataError("a,b,label\n1,2,0\n1,x,1\n"))
        #expect(e.description == "bad.csv:3:2: column 'b' holds 'x', which is not a number like the cells above it")
    }

    @Test func labelColumnProblems() throws {
        #expect(try #require(dataError("a,b\n1,2\n", label: .name("y"))).description.contains("no column named 'y'"))
        #expect(try #require(dataError("a,b\n1,2\n", label: .index(5))).description.contains("label column 6 does not exist"))
        #expect(
            try #require(dataError("a,label\n1,0\n2,cat\n")).description
                == "bad.csv:3:2: label 'cat' is not a number like the labels above it")
        #expect(try #require(dataError("a,label\n")).description.contains("no data rows"))
    }

    @Test func textLabelsBecomeClassIndices() throws {
        let d = try CSVLoader.parse("x,kind\r\n1,cat\r\n2,dog\r\n3,cat\r\n", file: "t.csv")
        #expect(d.labels == [0, 1, 0])
        #expect(d.classNames == ["cat", "dog"])
        let first = try CSVLoader.parse("y,x\n0,5\n1,6\n", file: "t.csv", label: .index(0))
        #expect(first.features == [5, 6] && first.labels == [0, 1])
    }

    @Test func standardizeGivesZeroMeanUnitVariance() throws {
        let d = try CSVLoader.load(path: TestPaths.sharedData("wine.csv")).standardized()
        let (mean, std) = d.statistics()
        #expect(mean.allSatisfy { abs($0) < 1e-4 })
        #expect(std.allSatisfy { abs($0 - 1) < 1e-3 })
    }

    @Test func splitIsStratifiedAndSeeded() throws {
        let d = try CSVLoader.load(path: TestPaths.sharedData("iris.csv"))
        let parts = d.split([("train", 0.8), ("test", 0.2)], seed: 1)
        #expect(parts.map(\.0) == ["train", "test"])
        #expect(parts[0].1.rows == 120 && parts[1].1.rows == 30)
        for c in 0..<3 { #expect(parts[1].1.labels.filter { Int($0) == c }.count == 10) }
        let again = d.split([("train", 0.8), ("test", 0.2)], seed: 1)
        #expect(again[0].1.features == parts[0].1.features)
        #expect(d.split([("train", 0.8), ("test", 0.2)], seed: 2)[0].1.features != parts[0].1.features)
    }

    @Test func generatorsAreSeeded() throws {
        let a = try Generators.spirals(samples: 90, classes: 3, seed: 4)
        #expect(a.rows == 90 && a.cols == 2 && a.classCount == 3)
        #expect(try Generators.spirals(samples: 90, classes: 3, seed: 4).features == a.features)
        let b = try Generators.blobs(samples: 100, features: 5, centers: 4, seed: 9)
        #expect(b.cols == 5 && b.classCount == 4)
        #expect(throws: DataError.self) { try Generators.blobs(samples: 10, features: 2, centers: 1, seed: 0) }
    }
}
