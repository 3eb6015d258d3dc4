// swift-tools-version:6.1
import PackageDescription

// Layers follow the data path of DESIGN.md; each target imports only the ones below it:
//   gpuflow (CLI) → GPUFlowLua → GPUFlowML → GPUFlowCompute
//                              ↘ GPUFlowStore (run store, SQLite; cluster run directories) → GPUFlowCore
//                                (task model, profiles, orchestrator; no Lua, no Vulkan)
//   gpuflow → GPUFlowServer (job server and its workers' admission client; → GPUFlowML),
//             GPUFlowCluster (Slurm) → GPUFlowStore
let package = Package(
    name: "gpuflow",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gpuflow", targets: ["gpuflow"]),
        .library(name: "GPUFlowLua", targets: ["GPUFlowLua"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // Microbenchmarks of Swift code (Benchmarks/, `swift package benchmark`, run by scripts/bench).
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .systemLibrary(name: "CLua", pkgConfig: "lua5.4", providers: [.apt(["liblua5.4-dev"])]),
        .target(name: "CLuaShim", dependencies: ["CLua"]),
        .systemLibrary(name: "CVulkan", pkgConfig: "vulkan", providers: [.apt(["libvulkan-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        // CSV: libcsv tokenizes (RFC 4180), fast_float parses the numbers; measured against
        // strtof and the Swift CSV packages in the README's data-loading figures.
        .systemLibrary(name: "CCSV", providers: [.apt(["libcsv-dev"])]),
        // PNG folders (data.images) through libpng's simplified API.
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .target(name: "CFastFloat", cxxSettings: [.unsafeFlags(["-O3"])]),
        // The SIMD backend's softmax, layer norm and exp-based activations, built for AVX-512,
        // AVX2 and baseline x86-64 and chosen at load time (Swift's SIMD8 code here ran on SSE2
        // at a quarter of the speed). Only the row sums are reassociated, by a pragma in place.
        .target(name: "CVectorKernels", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),
        .target(
            name: "GPUFlowCore",
            dependencies: [
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // OpenBLAS's OpenMP build (Debian libopenblas0-openmp), found first through the run
        // path: the default pthreads build wakes its worker with sched_yield, which on a 2-core
        // VM left about half of all 256³ products at one-thread speed (325 µs against 173 µs;
        // numpy 190 µs). Without the package the pthreads build is used, with the same results.
        .target(
            name: "GPUFlowCompute", dependencies: ["CVulkan", "COpenBLAS", "CVectorKernels"],
            linkerSettings: [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", "/usr/lib/x86_64-linux-gnu/openblas-openmp"])]),
        .target(
            name: "GPUFlowML",
            dependencies: [
                "GPUFlowCore", "GPUFlowCompute", "CCSV", "CFastFloat", "CPNG", .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .target(
            name: "GPUFlowStore",
            dependencies: [
                "GPUFlowCore", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .target(
            name: "GPUFlowLua",
            dependencies: [
                "CLua", "CLuaShim", "GPUFlowCore", "GPUFlowCompute", "GPUFlowML", "GPUFlowStore",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "GPUFlowServer",
            dependencies: [
                "GPUFlowCore", "GPUFlowStore", "GPUFlowML", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Yams", package: "Yams"), .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "GPUFlowCluster",
            dependencies: [
                "GPUFlowCore", "GPUFlowStore", .product(name: "Mustache", package: "swift-mustache"),
            ]),
        .executableTarget(
            name: "gpuflow",
            dependencies: [
                "GPUFlowLua", "GPUFlowCore", "GPUFlowCompute", "GPUFlowML", "GPUFlowStore", "GPUFlowServer", "GPUFlowCluster",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "gpuflow-bench",
            dependencies: [
                "GPUFlowCompute", "GPUFlowML", "GPUFlowCore",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "GPUFlowBenchmarks",
            dependencies: [
                "GPUFlowCompute", "GPUFlowCore", "GPUFlowML", .product(name: "Benchmark", package: "benchmark"),
            ], path: "Benchmarks/GPUFlowBenchmarks", plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
        .target(name: "GPUFlowTesting", dependencies: ["GPUFlowCore", "GPUFlowCompute"], path: "Tests/GPUFlowTesting"),
        .testTarget(name: "GPUFlowCoreTests", dependencies: ["GPUFlowCore", "GPUFlowTesting"]),
        .testTarget(name: "GPUFlowComputeTests", dependencies: ["GPUFlowCompute", "GPUFlowTesting"]),
        .testTarget(name: "GPUFlowMLTests", dependencies: ["GPUFlowML", "GPUFlowTesting"]),
        .testTarget(name: "GPUFlowLuaTests", dependencies: ["GPUFlowLua", "GPUFlowTesting"]),
        .testTarget(name: "GPUFlowStoreTests", dependencies: ["GPUFlowStore", "GPUFlowTesting"]),
        .testTarget(name: "GPUFlowClusterTests", dependencies: ["GPUFlowCluster", "GPUFlowStore", "GPUFlowCore", "GPUFlowTesting"]),
        .testTarget(
            name: "GPUFlowServerTests",
            dependencies: [
                "GPUFlowServer", "GPUFlowStore", "GPUFlowCore", "GPUFlowTesting",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]),
        .testTarget(name: "EndToEndTests", dependencies: ["GPUFlowTesting", "GPUFlowStore"]),
    ]
)
