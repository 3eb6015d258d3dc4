import Foundation
import GPUFlowTesting
import Testing

/// Bad data through the real binary: what the user sees on stderr and the exit code, for
/// non-finite elements, CSV options from Lua, and a training run that diverges.
@Suite struct BadDataCLITests {
    private func script(_ source: String) throws -> String { try TestPaths.write(source, name: "job.lua") }

    @Test func nanInAnNpyFileExitsTwoWithTheElement() throws {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let values: [Float] = [1, 0, .nan, 1]
        let bytes: [UInt8] =
            [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8)
            + values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
        let path = try TestPaths.temporaryDirectory().appendingPathComponent("xy.npy").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let out = try CLIRunner.run(["run", try script("require('gpu.data').npy(...)"), "--", path])
        #expect(out.status == 2, "\(out.stderr)")
        #expect(
            out.firstErrorLine.hasSuffix(
                "\(path): element 2 (index [1, 0]) at offset 136 is NaN and a data set holds finite numbers only; clean the array first (np.isfinite)"
            ), "\(out.stderr)")
    }

    @Test func nanInATableIsRefusedWithItsPlace() throws {
        let out = try CLIRunner.run(["run", try script("require('gpu.data').from_table{features = {{1, 2}, {3, 0/0}}, labels = {0, 1}}")])
        #expect(out.status == 1, "\(out.stderr)")
        #expect(
            out.firstErrorLine.hasSuffix("data.from_table: features[2][2] is NaN; a data set holds finite numbers only"), "\(out.stderr)")
        let huge = try CLIRunner.run(["run", try script("require('gpu.data').from_table{features = {{1}}, labels = {1e300}}")])
        #expect(
            huge.firstErrorLine.hasSuffix(
                "data.from_table: labels[1] is 1e+300, beyond float32's ±3.4e38; a data set holds finite numbers only"), "\(huge.stderr)")
    }

    @Test func penguinsFromLuaWithCategoriesAndMissingRowsDropped() throws {
        let penguins = TestPaths.sharedData("penguins.csv")
        let source = """
            local ds = require('gpu.data').csv(..., {label = "species", missing = "drop"})
            local island = ds.categories.island
            print(ds.rows, ds.cols, ds.classes, island.column, island.values[1], #island.values, ds.categories.sex.values[2], ds.source)
            """
        let out = try CLIRunner.run(["run", try script(source), "--", penguins])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout == "333\t7\t3\t1\tTorgersen\t3\tfemale\tpenguins.csv (missing=drop: 11 of 344 rows dropped)\n", "\(out.stderr)")
        let strict = try CLIRunner.run(["run", try script("require('gpu.data').csv(..., {label = 'species'})"), "--", penguins])
        #expect(strict.status == 2)
        #expect(
            strict.firstErrorLine.hasSuffix(
                "\(penguins):5:3: column 'bill_length_mm' is missing a value (an empty cell or 'NA'); give missing = \"drop\" or missing = \"mean\" to load such rows"
            ), "\(strict.stderr)")
    }

    @Test func delimiterHeaderAndBadOptionsFromLua() throws {
        let csv = try TestPaths.write("1\t\"a\tb\"\t0\n2\tc\t1\n", name: "t.tsv")
        let out = try CLIRunner.run([
            "run",
            try script(
                "local d = require('gpu.data').csv(..., {delimiter = '\\t', header = false}); print(d.rows, d.feature_names[2], d.categories['2'].values[1])"
            ), "--", csv,
        ])
        #expect(out.status == 0 && out.stdout == "2\t2\ta\tb\n", "\(out.stderr)")
        let bad = try CLIRunner.run(["run", try script("require('gpu.data').csv(..., {missing = 'zero'})"), "--", csv])
        #expect(
            bad.status == 1 && bad.firstErrorLine.hasSuffix("data.csv: missing must be \"error\", \"drop\" or \"mean\", got 'zero'"),
            "\(bad.stderr)")
        let delim = try CLIRunner.run(["run", try script("require('gpu.data').csv(..., {delimiter = '\"'})"), "--", csv])
        #expect(delim.status == 1 && delim.firstErrorLine.contains("data.csv: delimiter must be one character"), "\(delim.stderr)")
    }

    @Test func divergingTrainingFailsTheTaskWithExitOne() throws {
        let source = """
            local gpu = require "gpu"
            local m = require("gpu.nn").mlp{inputs = 2, hidden = {16}, outputs = 3, seed = 1}
            gpu.submit(gpu.training{model = m, data = gpu.data.blobs{features = 2, seed = 1}, epochs = 3,
                                    algorithm = gpu.backprop{learning_rate = 1e30}, name = "wild"}):await()
            """
        let out = try CLIRunner.run(["run", try script(source)])
        #expect(out.status == 1, "\(out.stderr)")
        #expect(out.firstErrorLine.contains("task wild (#"), "\(out.stderr)")
        #expect(out.firstErrorLine.contains("failed: training diverged in epoch 1"), "\(out.stderr)")
        #expect(
            out.firstErrorLine.hasSuffix("lower the learning rate (it is 1e+30) or clip gradients (gradient_clip = 1)"), "\(out.stderr)")
    }
}
