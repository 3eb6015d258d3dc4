import CPNG
import Foundation

/// A folder of PNG files as an image data set, laid out as torchvision's `ImageFolder`: one
/// subfolder per class (sorted by name: label i is the i-th name), each image decoded by
/// libpng to `channels` (1: gray, 3: RGB) and scaled to [0, 1], samples of [channels, height,
/// width]. Every image must have the first one's size; the first that differs is named.
public enum ImageFolder {
    /// Pixels (height × width) of one image past which it is refused before decoding: a small
    /// PNG file can declare a huge image.
    public static let maxPixels = 1 << 24

    /// `resolve` checks each file's path (the sandbox's rule for the script's files);
    /// `charge` is told the floats an image will take before it is decoded.
    public static func load(
        folder: String, channels: Int, resolve: (String) throws -> String = { $0 }, charge: (Int) throws -> Void = { _ in }
    ) throws -> Dataset {
        guard channels == 1 || channels == 3 else { throw DataError(file: folder, "channels must be 1 or 3, got \(channels)") }
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: folder) else { throw DataError(file: folder, "cannot read the folder") }
        let classes = entries.filter { e in
            var dir: ObjCBool = false
            return !e.hasPrefix(".") && fm.fileExists(atPath: folder + "/" + e, isDirectory: &dir) && dir.boolValue
        }.sorted()
        guard !classes.isEmpty else { throw DataError(file: folder, "has no class folders (one subfolder of PNG files per class)") }
        var features: [Float] = [], labels: [Float] = []
        var shape: (h: Int, w: Int, first: String)?
        for (label, name) in classes.enumerated() {
            let files = ((try? fm.contentsOfDirectory(atPath: folder + "/" + name)) ?? []).filter { $0.lowercased().hasSuffix(".png") }
                .sorted()
            for file in files {
                let relative = name + "/" + file
                let path = try resolve(folder + "/" + relative)
                let image = try decode(path: path, channels: channels, what: relative, charge: charge, into: &features)
                if let s = shape, s.h != image.height || s.w != image.width {
                    throw DataError(
                        file: folder,
                        "\(relative) is \(image.width)×\(image.height) but \(s.first) is \(s.w)×\(s.h); every image must have one size")
                }
                if shape == nil { shape = (image.height, image.width, relative) }
                labels.append(Float(label))
            }
        }
        guard let s = shape else { throw DataError(file: folder, "its class folders hold no .png files") }
        return Dataset(
            features: features, rows: labels.count, cols: channels * s.h * s.w, labels: labels, classNames: classes,
            source: URL(fileURLWithPath: folder).lastPathComponent, sampleShape: [channels, s.h, s.w])
    }

    /// One PNG appended to `values` as channel-major floats in [0, 1] (libpng converts palette,
    /// gray, alpha and 16-bit images to the format asked for; alpha is composited on black).
    static func decode(path: String, channels: Int, what: String, charge: (Int) throws -> Void, into values: inout [Float]) throws
        -> (width: Int, height: Int)
    {
        guard let data = FileManager.default.contents(atPath: path) else { throw DataError(file: what, "cannot read the image") }
        let image = blankImage()
        defer {
            png_image_free(image)
            image.deallocate()
        }
        let ok = data.withUnsafeBytes { png_image_begin_read_from_memory(image, $0.baseAddress, data.count) }
        guard ok != 0 else { throw DataError(file: what, "is not a PNG libpng can read: \(message(image))") }
        let w = Int(image.pointee.width), h = Int(image.pointee.height)
        guard w > 0, h > 0, w * h <= maxPixels else {
            throw DataError(file: what, "is \(w)×\(h); data.images reads at most \(maxPixels) pixels")
        }
        try charge(w * h * channels)
        image.pointee.format = channels == 1 ? 0 : 2  // PNG_FORMAT_GRAY, PNG_FORMAT_RGB (libpng macros Swift does not import)
        var pixels = [UInt8](repeating: 0, count: w * h * channels)
        let done = pixels.withUnsafeMutableBytes { png_image_finish_read(image, nil, $0.baseAddress, 0, nil) }
        guard done != 0 else { throw DataError(file: what, "cannot be decoded: \(message(image))") }
        for c in 0..<channels {
            for p in 0..<(w * h) { values.append(Float(pixels[p * channels + c]) / 255) }
        }
        return (w, h)
    }

    private static func message(_ image: UnsafeMutablePointer<png_image>) -> String {
        var m = image.pointee.message
        return withUnsafeBytes(of: &m) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// A zeroed control structure of the given version, as libpng's manual asks.
    private static func blankImage() -> UnsafeMutablePointer<png_image> {
        let image = UnsafeMutablePointer<png_image>.allocate(capacity: 1)
        UnsafeMutableRawPointer(image).initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<png_image>.size)
        image.pointee.version = 1  // PNG_IMAGE_VERSION
        return image
    }

    /// An 8-bit gray or RGB PNG of channel-major values in [0, 1] (the tests write their image
    /// folders with it).
    public static func encode(width: Int, height: Int, channels: Int, values: [Float]) throws -> [UInt8] {
        let image = blankImage()
        defer { image.deallocate() }
        image.pointee.width = UInt32(width)
        image.pointee.height = UInt32(height)
        image.pointee.format = channels == 1 ? 0 : 2  // PNG_FORMAT_GRAY, PNG_FORMAT_RGB (libpng macros Swift does not import)
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        for c in 0..<channels {
            for p in 0..<(width * height) {
                pixels[p * channels + c] = UInt8(max(0, min(255, (values[c * width * height + p] * 255).rounded())))
            }
        }
        var size = 0
        guard png_image_write_to_memory(image, nil, &size, 0, pixels, 0, nil) != 0 else { throw DataError("PNG: \(message(image))") }
        var out = [UInt8](repeating: 0, count: size)
        guard out.withUnsafeMutableBytes({ png_image_write_to_memory(image, $0.baseAddress, &size, 0, pixels, 0, nil) }) != 0 else {
            throw DataError("PNG: \(message(image))")
        }
        return Array(out.prefix(size))
    }
}
