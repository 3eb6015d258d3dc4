import Foundation
import GPUFlowTesting
import Testing

@testable import GPUFlowCompute

@Suite struct ShaderTests {
    /// The embedded SPIR-V must be what Shaders/*.comp compile to today.
    @Test func embeddedSPIRVIsFresh() throws {
        let p = Process()
        p.executableURL = TestPaths.repository.appendingPathComponent("scripts/build-shaders")
        p.arguments = ["--check"]
        let err = Pipe()
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 0, "\(message)")
    }

    @Test func everyKernelHasAShaderAndFitsThePushConstantBudget() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: TestPaths.repository.appendingPathComponent("Shaders").path)
            .filter { $0.hasSuffix(".comp") }.map { String($0.dropLast(5)) }
        #expect(Set(files) == Set(KernelSpec.all.map(\.name)), "one kernel a file, and a file for every kernel")
        for k in KernelSpec.all {
            #expect(k.pushWords * 4 <= KernelSpec.maxPushBytes, "\(k.name)")
            #expect(EmbeddedSPIRV.shaders[k.name] != nil, "\(k.name) is embedded")
        }
    }

    @Test func corruptSPIRVIsATypedError() throws {
        let c = try VulkanContext.shared()
        for words: [UInt32] in [[], [0xDEAD_BEEF, 1, 2, 3, 4, 5], [0x0723_0203]] {
            do {
                _ = try VulkanKernel(context: c, spec: .scale, spirv: words, cache: nil)
                Issue.record("\(words.count) words of bad SPIR-V were accepted")
            } catch let e as BackendError {
                #expect(e.code == .invalidShader)
            }
        }
        #expect(VulkanKernel.words(Data([1, 2, 3])) == nil, "a length that is not a multiple of 4 is refused")
    }
}

@Suite(.serialized) struct PipelineCacheTests {
    /// Kernels go through a VkPipelineCache that is written to disk and read back by the next
    /// context on the same device.
    @Test func pipelineCacheIsSavedAndReloaded() throws {
        let dir = try TestPaths.temporaryDirectory().path
        setenv("XDG_CACHE_HOME", dir, 1)
        defer { unsetenv("XDG_CACHE_HOME") }
        let first = try VulkanContext(preference: .any)
        let path = try #require(first.kernels.cachePath)
        #expect(path.hasPrefix(dir + "/gpuflow/pipelines-"))
        _ = try first.kernel(.gemm)
        first.savePipelineCache()
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size > 0)
        let second = try VulkanContext(preference: .any)
        #expect(second.kernels.cachePath == path, "same device and shaders, same cache file")
        _ = try second.kernel(.gemm)  // builds from the loaded cache
    }

    @Test func aKernelWithNoEmbeddedShaderIsATypedError() throws {
        let c = try VulkanContext.shared()
        let missing = KernelSpec(name: "no_such_kernel", bindings: 1, pushWords: 1, specialization: KernelSpec.elementwise)
        do {
            _ = try c.kernel(missing)
            Issue.record("a kernel without SPIR-V was built")
        } catch let e as BackendError {
            #expect(e.code == .invalidShader && e.message.contains("no embedded SPIR-V"))
        }
    }
}
