/// The host backends allocate every op's output as a fresh array, and a training step frees
/// them all again. glibc returns the freed top of the heap to the kernel once more than its
/// trim threshold lies free there (a few MiB after its dynamic adjustment), so every step
/// faulted the same pages back in and zeroed them: a small transformer's step spent 15 % of its
/// time in page faults. Raising the thresholds once, at start-up, keeps a step's pages for the
/// next (the process keeps what it used at its peak, as PyTorch's caching allocator does);
/// measured on `scripts/bench-lua/train_transformer.lua` on SIMD: 1.5× tokens/s.
public enum HostMemory {
    /// Freed heap is returned to the kernel only beyond this much.
    public static let trimThreshold: Int32 = 512 << 20
    /// Arrays below this come from the heap (glibc's cap for the setting is 32 MiB).
    public static let mmapThreshold: Int32 = 32 << 20

    /// Called by each executable's entry point before any work.
    public static func keepFreedPages() {
        _ = glibcMallopt(mmapSetting, mmapThreshold)
        _ = glibcMallopt(trimSetting, trimThreshold)
    }

    // <malloc.h>'s M_TRIM_THRESHOLD and M_MMAP_THRESHOLD; Swift's Glibc module imports neither
    // them nor mallopt.
    static let trimSetting: Int32 = -1
    static let mmapSetting: Int32 = -3
}

/// glibc's `int mallopt(int param, int value)`.
@_silgen_name("mallopt") private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
