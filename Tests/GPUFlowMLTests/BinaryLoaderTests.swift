import Foundation
import GPUFlowTesting
import Testing

@testable import GPUFlowML

/// .npy and IDX files written byte by byte here, so the tests need no NumPy.
@Suite struct BinaryLoaderTests {
    static func npy(descr: String, shape: [Int], fortran: Bool = false, payload: [UInt8], version: UInt8 = 1) -> [UInt8] {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': (\(dims)), }"
        let pre = version == 1 ? 10 : 12
        while (pre + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
        let n = header.utf8.count
        out += version == 1 ? [UInt8(n & 0xFF), UInt8(n >> 8)] : [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), 0, 0]
        return out + Array(header.utf8) + payload
    }

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    private func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = try TestPaths.temporaryDirectory().appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func float32MatrixWithTheLabelInTheLastColumn() throws {
        let values: [Float] = [1, 2, 0, 3, 4, 1, 5, 6, 2]
        let path = try write(Self.npy(descr: "<f4", shape: [3, 3], payload: values.flatMap { Self.le($0.bitPattern) }), "xy.npy")
        let d = try BinaryLoaders.dataset(features: BinaryLoaders.npy(path: path), labels: nil, source: "xy.npy")
        #expect(d.rows == 3 && d.cols == 2 && d.features == [1, 2, 3, 4, 5, 6] && d.labels == [0, 1, 2])
    }

    @Test func float64FeaturesInt64LabelsFortranOrderAndVersion2() throws {
        // 2×3 in Fortran (column-major) order: columns (1,4), (2,5), (3,6).
        let x: [Double] = [1, 4, 2, 5, 3, 6]
        let xp = try write(
            Self.npy(descr: "<f8", shape: [2, 3], fortran: true, payload: x.flatMap { Self.le($0.bitPattern) }, version: 2), "x.npy")
        let yp = try write(Self.npy(descr: "<i8", shape: [2], payload: [Int64(1), 0].flatMap { Self.le($0) }), "y.npy")
        let d = try BinaryLoaders.dataset(features: BinaryLoaders.npy(path: xp), labels: BinaryLoaders.npy(path: yp), source: "x.npy")
        #expect(d.features == [1, 2, 3, 4, 5, 6] && d.labels == [1, 0])
    }

    @Test func npyErrorsNameTheFileAndOffset() throws {
        let big = try write(Self.npy(descr: ">f4", shape: [1], payload: [0, 0, 0, 0]), "big.npy")
        #expect(throws: DataError.self) { try BinaryLoaders.npy(path: big) }
        let short = try write(Self.npy(descr: "<f4", shape: [2, 2], payload: [0, 0, 0, 0]), "short.npy")
        do {
            _ = try BinaryLoaders.npy(path: short)
            Issue.record("a truncated array loaded")
        } catch let e as DataError {
            #expect(e.file == short && e.message.contains("at offset 128 holds 4 bytes; shape [2, 2] of <f4 needs 16"), "\(e)")
        }
        let junk = try write(Array("hello".utf8), "junk.npy")
        #expect(throws: DataError.self) { try BinaryLoaders.npy(path: junk) }
    }

    @Test func idxImagesAndLabels() throws {
        // Two 2×2 unsigned-byte images and their labels, as MNIST stores them (big-endian sizes).
        let images: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 255, 10, 20, 1, 2, 3, 4]
        let labels: [UInt8] = [0, 0, 8, 1, 0, 0, 0, 2, 7, 3]
        let ip = try write(images, "images-idx3-ubyte"), lp = try write(labels, "labels-idx1-ubyte")
        let d = try BinaryLoaders.dataset(features: BinaryLoaders.idx(path: ip), labels: BinaryLoaders.idx(path: lp), source: "images")
        #expect(d.rows == 2 && d.cols == 4 && d.features == [0, 255, 10, 20, 1, 2, 3, 4] && d.labels == [7, 3])
        #expect(d.sampleShape == [2, 2], "an N-D array keeps each sample's shape")
        let asImages = try BinaryLoaders.dataset(
            features: BinaryLoaders.idx(path: ip), labels: BinaryLoaders.idx(path: lp), source: "images", images: true)
        #expect(asImages.sampleShape == [1, 2, 2] && asImages.features == d.features, "data.idx: one-channel images")
        let n = d.normalized()
        #expect(n.features[1] == 1 && n.features[5] == 0 && n.features[0] == 0 && n.features[4] == 1, "min-max per column")
        var bad = labels
        bad.removeLast()
        let bp = try write(bad, "bad-idx1")
        do {
            _ = try BinaryLoaders.idx(path: bp)
            Issue.record("a truncated IDX file loaded")
        } catch let e as DataError {
            #expect(e.message.contains("at offset 8 holds 1 bytes; shape [2] needs 2"))
        }
        #expect(throws: DataError.self) {
            try BinaryLoaders.dataset(
                features: BinaryLoaders.idx(path: ip), labels: BinaryLoaders.Array(shape: [3], values: [1, 2, 3]), source: "x")
        }
    }
}
