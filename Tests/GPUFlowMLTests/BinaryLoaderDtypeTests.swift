import Foundation
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// The dtype forms NumPy writes, each loaded or refused with an accurate message, and the
/// refusal of NaN and ±Inf elements by place (.npy and IDX files written byte by byte).
@Suite struct BinaryLoaderDtypeTests {
    private func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = try TestPaths.temporaryDirectory().appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A .npy file whose header's descr is given verbatim (a quoted string or a list of fields).
    private func npy(rawDescr: String, shape: String, payload: [UInt8], fortran: Bool = false) -> [UInt8] {
        var header = "{'descr': \(rawDescr), 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let n = header.utf8.count
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(n & 0xFF), UInt8(n >> 8)] + Array(header.utf8) + payload
    }

    private func message(_ path: String) -> String? {
        do {
            _ = try BinaryLoaders.npy(path: path)
            return nil
        } catch {
            return "\(error)"
        }
    }

    private func f4(_ v: [Float]) -> [UInt8] { v.flatMap { BinaryLoaderTests.le($0.bitPattern) } }

    @Test func structuredDtypesAreNamedAsSuch() throws {
        let p = try write(
            npy(rawDescr: "[('a', '<f4'), ('b', '<i4')]", shape: "(2,)", payload: [UInt8](repeating: 0, count: 16)), "rec.npy")
        let m = try #require(message(p))
        #expect(m.contains("structured dtypes") && m.contains("are not supported; save a plain float32 or float64 array"), "\(m)")
        #expect(!m.contains("little-endian"), "\(m)")
    }

    @Test func everyDescrFormGetsAnAccurateMessage() throws {
        let u1 = try write(npy(rawDescr: "'|u1'", shape: "(2, 2)", payload: [1, 2, 3, 255]), "u1.npy")
        #expect(try BinaryLoaders.npy(path: u1).values == [1, 2, 3, 255])
        let f8 = try write(
            npy(rawDescr: "'<f8'", shape: "(2,)", payload: [0.5, -2].flatMap { BinaryLoaderTests.le(($0 as Double).bitPattern) }), "f8.npy")
        #expect(try BinaryLoaders.npy(path: f8).values == [0.5, -2])
        let big = try write(npy(rawDescr: "'>f4'", shape: "(1,)", payload: [0, 0, 0, 0]), "big.npy")
        #expect(try #require(message(big)).hasSuffix("dtype '>f4' is big-endian; save it little-endian (arr.astype('<f4'))"))
        let cases = [
            ("'<c8'", "(complex)"), ("'<f2'", "(float16 (only float32 and float64 are read))"), ("'<U3'", "(text)"),
            ("'|O'", "(Python objects)"),
            ("'<M8[ns]'", "(dates or time spans)"),
        ]
        for (descr, kind) in cases {
            let p = try write(npy(rawDescr: descr, shape: "(1,)", payload: [0, 0, 0, 0, 0, 0, 0, 0]), "k.npy")
            let m = try #require(message(p))
            #expect(m.contains("\(kind) is not supported; save a plain float32 or float64 array"), "\(descr): \(m)")
        }
        let cube = try write(npy(rawDescr: "'<f4'", shape: "(1, 1, 1)", payload: f4([1]), fortran: true), "cube.npy")
        #expect(
            try #require(message(cube)).contains(
                "Fortran-ordered arrays of more than 2 dimensions are not supported; save with np.ascontiguousarray(arr)"))
    }

    @Test func nanAndInfElementsAreRefusedByPlace() throws {
        let nan = try write(npy(rawDescr: "'<f4'", shape: "(2, 3)", payload: f4([1, 2, 3, 4, .nan, 6])), "nan.npy")
        let nanMessage = try #require(message(nan))
        #expect(
            nanMessage
                == "\(nan): element 4 (index [1, 1]) at offset 144 is NaN and a data set holds finite numbers only; clean the array first (np.isfinite)"
        )
        // Fortran order: the 4th stored element of a 2×3 array is [1, 1] too; the 3rd is [0, 1].
        let fortran = try write(npy(rawDescr: "'<f4'", shape: "(2, 3)", payload: f4([1, 2, .infinity, 4, 5, 6]), fortran: true), "f.npy")
        #expect(try #require(message(fortran)).contains("element 2 (index [0, 1]) at offset 136 is inf"))
        let huge = try write(npy(rawDescr: "'<f8'", shape: "(1,)", payload: BinaryLoaderTests.le((1e300 as Double).bitPattern)), "huge.npy")
        #expect(try #require(message(huge)).contains("element 0 (index [0]) at offset 128 is 1e+300, beyond float32's ±3.4e38,"))
    }

    @Test func idxFloatsAreCheckedToo() throws {
        // 0x0D: big-endian float32, one dimension of 2: 1.0 and -inf.
        let bytes: [UInt8] = [0, 0, 0x0D, 1, 0, 0, 0, 2, 0x3F, 0x80, 0, 0, 0xFF, 0x80, 0, 0]
        let p = try write(bytes, "f-idx1")
        do {
            _ = try BinaryLoaders.idx(path: p)
            Issue.record("an IDX file with -inf loaded")
        } catch let e as DataError {
            #expect(
                e.description
                    == "\(p): element 1 (index [1]) at offset 12 is -inf and a data set holds finite numbers only; clean the array first (np.isfinite)"
            )
        }
    }
}
