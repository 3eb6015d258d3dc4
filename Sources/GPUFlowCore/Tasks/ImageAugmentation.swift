/// Seeded augmentation of image samples ([channels, height, width]) as a training batch is
/// built: a random crop of the image padded with `cropPadding` zeros on each side (the
/// CIFAR recipe's RandomCrop(padding)) and a horizontal flip with probability ½. The draws
/// come from Philox(seed, step), so a run — and its resume or replay — sees the same images.
public struct ImageAugmentation: Codable, Sendable, Equatable {
    public var cropPadding: Int
    public var horizontalFlip: Bool
    public init(cropPadding: Int = 0, horizontalFlip: Bool = false) {
        self.cropPadding = cropPadding
        self.horizontalFlip = horizontalFlip
    }
}
