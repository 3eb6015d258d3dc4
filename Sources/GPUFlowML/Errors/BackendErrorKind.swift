import GPUFlowCompute
import GPUFlowCore

/// The compute layer knows nothing of error kinds (it imports nothing of gpuflow); this is
/// where its codes meet the exit-code table, so that a lost device exits 4 and an agent past
/// its memory partition exits 3 whichever layer let the error through.
extension BackendError: KindedError {
    public var kind: ErrorKind {
        switch code {
        case .shapeMismatch: return .input
        case .foreignTensor: return .script
        case .outOfMemory, .quotaExceeded: return .limit
        case .unsupported, .deviceLost, .unavailable, .invalidShader, .vulkan: return .device
        }
    }
}
