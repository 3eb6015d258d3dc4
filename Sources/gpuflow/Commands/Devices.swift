import ArgumentParser
import Foundation
import GPUFlowCompute

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List the Vulkan devices gpuflow can see, with their limits.",
        discussion: "Says so clearly where there is none; the cpu backend is always available.")

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let devices: [VulkanDeviceInfo]
        do {
            devices = try VulkanDevices.list()
        } catch {
            if json {
                print("{\"devices\": [], \"error\": \(jsonString("\(error)"))}")
            } else {
                print("no Vulkan device: \(error)\nthe cpu backend is available (--backend cpu)")
            }
            return
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try enc.encode(["devices": devices])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        if devices.isEmpty {
            print("no Vulkan device: the Vulkan loader found no physical device\nthe cpu backend is available (--backend cpu)")
            return
        }
        for d in devices {
            print(
                """
                [\(d.index)] \(d.name)
                    type: \(d.type)    api: \(d.apiVersion)    driver: \(d.driverName) (\(d.driverInfo))
                    vendor: 0x\(String(d.vendorID, radix: 16))    device: 0x\(String(d.deviceID, radix: 16))
                    memory heaps: \(d.heapsMB.map { "\($0) MB" }.joined(separator: ", "))    device-local: \(d.deviceLocalMB) MB
                    max workgroup: \(d.maxWorkgroupSize.map(String.init).joined(separator: "×")) (\(d.maxWorkgroupInvocations) invocations)
                    shared memory: \(d.maxSharedMemoryBytes / 1024) KiB    subgroup: \(d.subgroupSize)
                    max storage buffer range: \(d.maxStorageBufferRange / (1 << 20)) MiB    max allocation: \(d.maxAllocationBytes / (1 << 20)) MiB
                    timestamps: \(d.timestampValidBits > 0 ? "\(d.timestampValidBits) valid bits" : "not on the compute queue"), period \(d.timestampPeriodNS) ns
                    tensor memory: \(d.memoryPath)    VK_EXT_memory_budget: \(d.hasMemoryBudget ? "yes" : "no")
                """)
        }
    }

    private func jsonString(_ s: String) -> String {
        let data = (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
