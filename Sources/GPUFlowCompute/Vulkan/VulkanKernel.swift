import CVulkan
import Foundation

/// A compute pipeline for one kernel: shader module, descriptor-set layout (N storage
/// buffers), push-constant range and specialization constants.
final class VulkanKernel {
    let spec: KernelSpec
    let context: VulkanContext
    let setLayout: VkDescriptorSetLayout
    let pipelineLayout: VkPipelineLayout
    let pipeline: VkPipeline
    private let module: VkShaderModule

    /// Builds the pipeline from SPIR-V words; refuses bytes that are not SPIR-V before the
    /// driver sees them (a corrupt module can crash some drivers instead of failing).
    init(context: VulkanContext, spec: KernelSpec, spirv: [UInt32], cache: VkPipelineCache?) throws {
        guard spirv.count >= 5, spirv[0] == 0x0723_0203 else {
            throw BackendError(.invalidShader, "kernel \(spec.name): not a SPIR-V module (\(spirv.count * 4) bytes, bad magic number)")
        }
        guard spec.pushWords * 4 <= KernelSpec.maxPushBytes else {
            throw BackendError(.invalidShader, "kernel \(spec.name): \(spec.pushWords * 4) bytes of push constants exceed 128")
        }
        self.spec = spec
        self.context = context
        let dev = context.device

        var smci = VkShaderModuleCreateInfo()
        smci.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO
        smci.codeSize = spirv.count * 4
        var mod: VkShaderModule?
        try spirv.withUnsafeBufferPointer { words in
            smci.pCode = words.baseAddress
            try vkCheck(vkCreateShaderModule(dev, &smci, nil, &mod), "vkCreateShaderModule(\(spec.name))")
        }
        guard let mod else { throw BackendError(.invalidShader, "kernel \(spec.name): no shader module") }
        module = mod

        var bindings = (0..<spec.bindings).map { i -> VkDescriptorSetLayoutBinding in
            var b = VkDescriptorSetLayoutBinding()
            b.binding = UInt32(i)
            b.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
            b.descriptorCount = 1
            b.stageFlags = UInt32(VK_SHADER_STAGE_COMPUTE_BIT.rawValue)
            return b
        }
        var dslci = VkDescriptorSetLayoutCreateInfo()
        dslci.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO
        dslci.bindingCount = UInt32(bindings.count)
        var layout: VkDescriptorSetLayout?
        let layoutResult = bindings.withUnsafeMutableBufferPointer { b -> VkResult in
            dslci.pBindings = UnsafePointer(b.baseAddress)
            return vkCreateDescriptorSetLayout(dev, &dslci, nil, &layout)
        }
        guard layoutResult == VK_SUCCESS, let layout else {
            vkDestroyShaderModule(dev, mod, nil)
            try vkCheck(layoutResult, "vkCreateDescriptorSetLayout(\(spec.name))")
            throw BackendError(.invalidShader, "no descriptor set layout")
        }
        setLayout = layout

        var range = VkPushConstantRange()
        range.stageFlags = UInt32(VK_SHADER_STAGE_COMPUTE_BIT.rawValue)
        range.size = UInt32(spec.pushWords * 4)
        var plci = VkPipelineLayoutCreateInfo()
        plci.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO
        plci.setLayoutCount = 1
        var pl: VkPipelineLayout?
        var setLayoutOpt: VkDescriptorSetLayout? = layout
        let plResult = withUnsafePointer(to: &setLayoutOpt) { sl in
            withUnsafePointer(to: &range) { r in
                plci.pSetLayouts = sl
                plci.pushConstantRangeCount = spec.pushWords > 0 ? 1 : 0
                plci.pPushConstantRanges = spec.pushWords > 0 ? r : nil
                return vkCreatePipelineLayout(dev, &plci, nil, &pl)
            }
        }
        guard plResult == VK_SUCCESS, let pl else {
            vkDestroyDescriptorSetLayout(dev, layout, nil)
            vkDestroyShaderModule(dev, mod, nil)
            try vkCheck(plResult, "vkCreatePipelineLayout(\(spec.name))")
            throw BackendError(.invalidShader, "no pipeline layout")
        }
        pipelineLayout = pl

        let constants = spec.specialization(context)
        var entries = constants.indices.map { i -> VkSpecializationMapEntry in
            var e = VkSpecializationMapEntry()
            e.constantID = UInt32(i)
            e.offset = UInt32(i * 4)
            e.size = 4
            return e
        }
        var pipe: VkPipeline?
        let pipeResult: VkResult = "main".withCString { entry in
            constants.withUnsafeBytes { data in
                entries.withUnsafeMutableBufferPointer { map in
                    var si = VkSpecializationInfo()
                    si.mapEntryCount = UInt32(map.count)
                    si.pMapEntries = UnsafePointer(map.baseAddress)
                    si.dataSize = data.count
                    si.pData = data.baseAddress
                    return withUnsafePointer(to: &si) { siPtr in
                        var stage = VkPipelineShaderStageCreateInfo()
                        stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO
                        stage.stage = VK_SHADER_STAGE_COMPUTE_BIT
                        stage.module = mod
                        stage.pName = entry
                        stage.pSpecializationInfo = constants.isEmpty ? nil : siPtr
                        var cpci = VkComputePipelineCreateInfo()
                        cpci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO
                        cpci.stage = stage
                        cpci.layout = pl
                        return vkCreateComputePipelines(dev, cache, 1, &cpci, nil, &pipe)
                    }
                }
            }
        }
        guard pipeResult == VK_SUCCESS, let pipe else {
            vkDestroyPipelineLayout(dev, pl, nil)
            vkDestroyDescriptorSetLayout(dev, layout, nil)
            vkDestroyShaderModule(dev, mod, nil)
            try vkCheck(pipeResult == VK_SUCCESS ? VK_ERROR_INITIALIZATION_FAILED : pipeResult, "vkCreateComputePipelines(\(spec.name))")
            throw BackendError(.invalidShader, "no pipeline")
        }
        pipeline = pipe
    }

    deinit {
        let dev = context.device
        vkDestroyPipeline(dev, pipeline, nil)
        vkDestroyPipelineLayout(dev, pipelineLayout, nil)
        vkDestroyDescriptorSetLayout(dev, setLayout, nil)
        vkDestroyShaderModule(dev, module, nil)
    }

    /// SPIR-V bytes as 32-bit words; nil when the length is not a multiple of 4.
    static func words(_ data: Data) -> [UInt32]? {
        guard data.count % 4 == 0 else { return nil }
        return data.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
    }
}
