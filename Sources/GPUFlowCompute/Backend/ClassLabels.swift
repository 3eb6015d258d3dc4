/// The one check of class labels before a softmax cross-entropy reads them as indices, shared
/// by every backend that sees them on the host: a whole number in 0..<cols, else an error naming
/// the first row that is not (a NaN or fractional label would trap in `Int(_:)`).
public enum ClassLabels {
    public static func check<C: Collection>(_ labels: C, cols: Int) throws where C.Element == Float, C.Index == Int {
        if let r = labels.firstIndex(where: { !($0 >= 0 && $0 < Float(cols) && $0 == $0.rounded()) }) {
            throw BackendError(.shapeMismatch, "softmaxCrossEntropy: label \(labels[r]) in row \(r) is outside 0..<\(cols)")
        }
    }
}
