import Foundation
import GPUFlowTesting
import Testing

/// Examples are tests: every examples/*.lua runs through the real CLI and its output is checked.
@Suite struct ExampleTests {
    private func number(after label: String, in text: String) -> Double? {
        guard let r = text.range(of: label) else { return nil }
        let rest = text[r.upperBound...].drop(while: { $0 == " " })
        return Double(rest.prefix(while: { $0.isNumber || $0 == "." }))
    }

    @Test func trainInferOptimizeOnIrisReaches95Percent() throws {
        let out = try CLIRunner.run(["run", "examples/train_infer_optimize.lua", "--", "--data", TestPaths.sharedData("iris.csv")])
        #expect(out.status == 0, "\(out.stderr)")
        let accuracy = try #require(number(after: "test accuracy", in: out.stdout))
        #expect(accuracy >= 95, "test accuracy \(accuracy)%")
        #expect(out.stdout.contains("latency p50"))
        #expect(out.stdout.contains("rows/s"))
        #expect(out.stdout.contains("optimization: chose batch_size"))
        #expect(out.stdout.contains("insights:"))
        #expect(out.stdout.contains("pool:"))
    }

    @Test func trainInferOptimizeRunsOnGeneratedDataByDefault() throws {
        let out = try CLIRunner.run(["run", "examples/train_infer_optimize.lua", "--", "--epochs", "20"])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.hasPrefix("data: spirals("))
        let accuracy = try #require(number(after: "test accuracy", in: out.stdout))
        #expect(accuracy >= 80)
    }

    /// The graph-model example: penguins with embeddings, tuned, trained, served, saved and
    /// loaded; then replayed bit for bit from its record.
    @Test func tabularEmbeddingsLearnsPenguinsAndReplays() throws {
        let s = try CLISandbox()
        let out = try s.run([
            "run", TestPaths.repository.appendingPathComponent("examples/tabular_embeddings.lua").path, "--backend", "simd",
            "--", "--data", TestPaths.sharedData("penguins.csv"), "--epochs", "16",
        ])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("categorical: island (3 values), sex (2 values)"), "\(out.stdout)")
        let accuracy = try #require(number(after: "test: accuracy", in: out.stdout))
        #expect(accuracy >= 0.9, "test accuracy \(accuracy)")
        #expect(out.stdout.contains("same model true, same test accuracy true"), "\(out.stdout)")
        let replay = try s.run(["replay", "last"])
        #expect(replay.status == 0 && replay.stdout.contains("identical"), "\(replay.stdout)\(replay.stderr)")
    }

    /// A PyTorch network fine-tuned and sent back out: the ONNX file it writes, run by
    /// onnxruntime on the raw CSV rows (the file standardizes them itself), scores exactly the
    /// accuracy gpuflow's predict gave; the state dict has PyTorch's nn.Sequential keys.
    @Test(
        .enabled(
            if: TestVenv.has("onnxruntime", "safetensors", "numpy"),
            "onnxruntime and safetensors are not in .test-venv (scripts/test installs them from PyPI)"))
    func pytorchInteropFineTunesAndExports() throws {
        let dir = try TestPaths.temporaryDirectory().path
        let out = try CLIRunner.run(["run", "examples/pytorch_interop.lua", "--", "--out", dir])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("iris accuracy 1.000"), "\(out.stdout)")
        let test = try #require(number(after: "test: accuracy", in: out.stdout))
        #expect(test >= 0.9, "test accuracy \(test)")
        let all = try #require(number(after: "raw: accuracy", in: out.stdout))
        let script = """
            import csv, sys, numpy as np, onnxruntime as ort
            from safetensors.numpy import load_file
            rows = list(csv.DictReader(open(sys.argv[2])))
            names = list(dict.fromkeys(r["species"] for r in rows))
            x = np.array([[float(r[c]) for c in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")] for r in rows], np.float32)
            y = np.array([names.index(r["species"]) for r in rows])
            logits = ort.InferenceSession(sys.argv[1] + "/penguins.onnx", providers=["CPUExecutionProvider"]).run(["output"], {"input": x})[0]
            sd = load_file(sys.argv[1] + "/penguins.safetensors")
            print("%.4f" % (logits.argmax(1) == y).mean(), " ".join("%s%s" % (k, list(v.shape)) for k, v in sorted(sd.items())))
            """
        let r = try TestVenv.run([
            "-c", script, dir, TestPaths.repository.appendingPathComponent("examples/data/penguins_measurements.csv").path,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix(String(format: "%.4f", all)), "onnxruntime: \(r.stdout), gpuflow: \(all)")
        #expect(
            r.stdout.contains("0.bias[16] 0.weight[16, 4] 2.bias[16] 2.weight[16, 16] 4.bias[16] 4.weight[16] 5.bias[3] 5.weight[3, 16]"),
            "\(r.stdout)")
    }

    /// The CNN on the 8×8 digits (issue 17's first workload): learns at the quick sizes (180
    /// training images, 2 epochs), serves under its SLO's report, and replays bit for bit.
    @Test func cnnDigitsLearnsAndReplays() throws {
        let s = try CLISandbox()
        let out = try s.run([
            "run", TestPaths.repository.appendingPathComponent("examples/cnn_digits.lua").path, "--backend", "simd", "--", "--quick",
        ])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("images of 1×8×8, 10 classes"), "\(out.stdout)")
        let accuracy = try #require(number(after: "test: accuracy", in: out.stdout))
        #expect(accuracy >= 0.5, "test accuracy \(accuracy) after two epochs on 180 images (ten classes: chance is 0.1)")
        let replay = try s.run(["replay", "last"])
        #expect(replay.status == 0 && replay.stdout.contains("identical"), "\(replay.stdout)\(replay.stderr)")
    }

    /// The same network on an MNIST-format IDX set (examples/data/digits-idx: the digits under
    /// MNIST's file names, from scripts/peers/export_idx.py): the files are read as 1×8×8 images,
    /// learned from and scored on the t10k pair; a folder without them is a bad-input error (exit 2) naming the file.
    @Test func cnnDigitsReadsAnMNISTFormatSet() throws {
        let s = try CLISandbox()
        let script = TestPaths.repository.appendingPathComponent("examples/cnn_digits.lua").path
        let idx = TestPaths.repository.appendingPathComponent("examples/data/digits-idx").path
        let out = try s.run(["run", script, "--backend", "simd", "--", "--quick", "--idx", idx])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("data: train-images-idx3-ubyte — 143 training / 70 test images of 1×8×8, 10 classes"), "\(out.stdout)")
        let accuracy = try #require(number(after: "test: accuracy", in: out.stdout))
        #expect(accuracy >= 0.5, "test accuracy \(accuracy) after two epochs on 143 images (chance is 0.1)")
        let missing = try s.run(["run", script, "--backend", "simd", "--", "--quick", "--idx", s.dir.path])
        #expect(missing.status == 2 && missing.stderr.contains("train-images-idx3-ubyte"), "\(missing.stderr)")
    }

    /// The character transformer (issue 17's second workload) at its quick sizes: the search,
    /// training, the held-out perplexity, generation; `gpuflow replay last` writes the same text.
    @Test func charTransformerTrainsGeneratesAndReplays() throws {
        let s = try CLISandbox()
        let out = try s.run([
            "run", TestPaths.repository.appendingPathComponent("examples/char_transformer.lua").path, "--backend", "simd", "--", "--quick",
        ])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("87 characters of vocabulary"), "\(out.stdout)")
        let loss = try #require(number(after: "held out: loss", in: out.stdout))
        #expect(loss < log(87.0), "held-out loss \(loss) is below uniform guessing's ln 87")
        #expect(out.stdout.contains("generated 20 characters"), "\(out.stdout)")
        let replay = try s.run(["replay", "last"])
        #expect(replay.status == 0 && replay.stdout.contains("identical"), "\(replay.stdout)\(replay.stderr)")
    }

    /// Every example, at small sizes (`-- --quick`), on the CPU and on Vulkan (lavapipe in CI).
    @Test(arguments: ["cpu", "vulkan"])
    func everyExampleScriptRuns(_ backend: String) throws {
        let dir = TestPaths.repository.appendingPathComponent("examples")
        let scripts = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".lua") }.sorted()
        #expect(scripts.count >= 8)
        for s in scripts {
            let out = try CLIRunner.run(["run", "examples/\(s)", "--backend", backend, "--", "--quick"])
            #expect(out.status == 0, "\(s) on \(backend): \(out.stderr)")
            #expect(!out.stdout.isEmpty, "\(s) printed nothing")
            #expect(!out.stderr.contains("warning:"), "\(s) on \(backend): \(out.stderr)")
        }
    }
}
