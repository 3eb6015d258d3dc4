import Foundation
import GPUFlowML
import GPUFlowTesting
import Testing

/// Models in and out from Lua: `model:predict` on data sets, tensors and raw rows, with
/// probabilities, class names, metrics and a layer's outputs; the schema that lets a saved
/// model read raw rows (scalings, categorical vocabularies, class names matched by name);
/// PyTorch state dicts through `nn.load`, `save_state_dict` and `gpu.transfer`.
@Suite struct ModelInteropFromLuaTests {
    static let penguins = TestPaths.sharedData("penguins.csv")
    static let torch = TestPaths.repository.appendingPathComponent("Tests/Fixtures/torch").path

    static let prelude = """
        local gpu = require "gpu"
        local nn, data = gpu.nn, gpu.data
        local function check(ok, what) if not ok then error("check failed: " .. what, 2) end end
        local raw = data.csv("\(penguins)", {label = "species", missing = "drop"})
        local parts = raw:split{train = 0.8, seed = 1}
        local train = parts.train:standardize()
        local model = nn.sequential{data = train, seed = 1, nn.embedding{dims = 2}, nn.linear{outputs = 16}, nn.relu{}, nn.linear{outputs = 3}}
        local r = gpu.submit(gpu.training{model = model, data = train, epochs = 30, algorithm = gpu.adam{learning_rate = 0.01}}):await()

        """

    @Test func predictionsCarryProbabilitiesLabelsMetricsAndEmbeddings() async throws {
        let run = try await runLua(
            Self.prelude + """
                local p = r.model:predict(parts.test)             -- raw rows: the model scales them
                local scaled = r.model:predict(parts.test:standardize{using = parts.train})
                check(p.rows == parts.test.rows and #p.probabilities == p.rows and #p.labels == p.rows, "one row each")
                for i = 1, p.rows do
                  local s = 0
                  for k = 1, 3 do s = s + p.probabilities[i][k] end
                  check(math.abs(s - 1) < 1e-5, "row " .. i .. " sums to 1")
                  check(p.labels[i] == raw.class_names[p.predictions[i] + 1], "labels are the class names")
                  check(p.predictions[i] == scaled.predictions[i], "raw rows scaled as the training rows were")
                end
                local m = p.metrics
                check(m.accuracy == p.accuracy and m.accuracy > 0.9, "accuracy " .. m.accuracy)
                check(m.f1_macro > 0.85 and m.roc_auc > 0.95 and m.log_loss < 0.5, "f1 " .. m.f1_macro)
                local total = 0
                for _, row in ipairs(m.confusion_matrix) do for _, n in ipairs(row) do total = total + n end end
                check(total == p.rows, "the confusion matrix counts every row")
                check(m.per_class.Adelie.support + m.per_class.Gentoo.support + m.per_class.Chinstrap.support == p.rows, "per class by name")
                print("classes", table.concat(m.classes, ","))
                local e = r.model:predict(parts.test, {layer = "linear1", batch_size = 7})
                print("embeddings", #e.embeddings, #e.embeddings[1])
                local ok, err = pcall(function() return r.model:predict(parts.test, {layer = "linear9"}) end)
                print("unknown layer", ok, err)
                """)
        #expect(run.result.exitCode == 0, "\(run.result.message ?? "")\n\(run.output)")
        #expect(run.lines.contains("classes\tAdelie,Gentoo,Chinstrap"), "\(run.output)")
        #expect(run.lines.contains("embeddings\t67\t16"), "\(run.output)")
        #expect(
            run.output.contains("unknown layer\tfalse") && run.output.contains("model:predict: inference: the model has no layer 'linear9'")
                && run.output.contains("script1.lua:"), "\(run.output)")
    }

    @Test func aSavedModelPredictsOnRawRowsAndNamesItsColumns() async throws {
        let dir = try TestPaths.temporaryDirectory()
        // The same penguins with the rows in another order: its islands and species are met in
        // another order, so the CSV's own codes differ from the training set's.
        let lines = try String(contentsOfFile: Self.penguins, encoding: .utf8).split(separator: "\n").map(String.init)
        let shuffled = ([lines[0]] + lines.dropFirst().reversed()).joined(separator: "\n") + "\n"
        let reordered = dir.appendingPathComponent("reordered.csv").path
        try shuffled.write(toFile: reordered, atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("m.safetensors").path
        let run = try await runLua(
            Self.prelude + """
                r.model:save("\(path)")
                local back = nn.load("\(path)")
                local row = {"Biscoe", 46.5, 14.8, 217, 5200, "female", 2008}
                local a, b = r.model:predict{row}, back:predict{row}
                check(a.labels[1] == b.labels[1] and a.probabilities[1][1] == b.probabilities[1][1], "the loaded model predicts as the trained one")
                local named = back:predict{{island = "Biscoe", bill_length_mm = 46.5, bill_depth_mm = 14.8, flipper_length_mm = 217,
                                            body_mass_g = 5200, sex = "female", year = 2008}}
                check(named.probabilities[1][2] == a.probabilities[1][2], "a row by column name")
                check(a.metrics == nil, "rows without labels have no metrics")
                print("row", a.labels[1])
                local other = data.csv("\(reordered)", {label = "species", missing = "drop"})
                print("codes differ", other.categories.island.values[1] ~= raw.categories.island.values[1], other.class_names[1] ~= raw.class_names[1])
                local p1, p2 = back:predict(raw), back:predict(other)
                local same = p1.accuracy == p2.accuracy
                for i = 1, raw.rows do if p1.labels[i] ~= p2.labels[raw.rows + 1 - i] then same = false end end
                print("same predictions by name", same, p1.accuracy)
                for _, bad in ipairs{
                  {{"Atlantis", 46.5, 14.8, 217, 5200, "female", 2008}},
                  {{"Biscoe", 46.5, 14.8, 217}},
                  {{island = "Biscoe", beak = 3}},
                  {{"Biscoe", "long", 14.8, 217, 5200, "female", 2008}},
                } do
                  local ok, err = pcall(function() return back:predict(bad) end)
                  print("refused", ok, err)
                end
                """)
        #expect(run.result.exitCode == 0, "\(run.result.message ?? "")\n\(run.output)")
        #expect(run.lines.contains("row\tGentoo"), "\(run.output)")
        #expect(run.lines.contains("codes differ\ttrue\ttrue"), "\(run.output)")
        #expect(run.output.contains("same predictions by name\ttrue"), "\(run.output)")
        #expect(run.output.contains("column 'island' has the value 'Atlantis', which the model never saw"), "\(run.output)")
        #expect(run.output.contains("row 1 has 4 values; the model takes 7"), "\(run.output)")
        #expect(run.output.contains("names the column 'beak', which the model does not have"), "\(run.output)")
        #expect(run.output.contains("column 'bill_length_mm' is 'long'; the column holds numbers"), "\(run.output)")
    }

    @Test func anMLPKeepsItsSchemaInItsModelFile() async throws {
        let path = try TestPaths.temporaryDirectory().appendingPathComponent("m.gfmodel").path
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local iris = gpu.data.csv("\(TestPaths.sharedData("iris.csv"))")
            local train = iris:standardize()
            local r = gpu.submit(gpu.training{model = gpu.nn.mlp{inputs = 4, hidden = {16}, outputs = 3, seed = 1}, data = train, epochs = 30,
                                              algorithm = gpu.adam{learning_rate = 0.02}}):await()
            r.model:save("\(path)")
            local back = gpu.nn.load("\(path)")
            print("ids", back.id == r.model.id)
            local raw, scaled = back:predict(iris), back:predict(train)
            print("raw as scaled", raw.accuracy == scaled.accuracy, raw.accuracy > 0.9, raw.metrics.f1_macro > 0.9)
            """)
        #expect(run.result.exitCode == 0, "\(run.result.message ?? "")\n\(run.output)")
        #expect(run.lines.contains("ids\ttrue") && run.lines.contains("raw as scaled\ttrue\ttrue\ttrue"), "\(run.output)")
    }

    @Test func pytorchStateDictsThroughLua() async throws {
        let out = try TestPaths.temporaryDirectory().path
        let run = try await runLua(
            """
            local gpu = require "gpu"
            local nn, data = gpu.nn, gpu.data
            local function arch(seed)
              return nn.sequential{inputs = 4, seed = seed, nn.linear{outputs = 16}, nn.relu{}, nn.linear{outputs = 16}, nn.gelu{},
                                   nn.layer_norm{}, nn.linear{outputs = 3}}
            end
            -- PyTorch's inputs and the outputs it computed, as features and targets.
            local ds = data.npy("\(Self.torch)/mlp_inputs.npy", {labels = "\(Self.torch)/mlp_outputs.npy"})
            local m = nn.load("\(Self.torch)/mlp.safetensors", {model = arch(1), mapping = "sequential"})
            local p = m:predict(ds)
            print("pytorch outputs", #p.outputs, p.metrics.mse < 1e-10)
            local named = nn.load("\(Self.torch)/mlp.safetensors", {model = arch(2), mapping = {linear1 = "0", linear2 = "2", layer_norm1 = "4", linear3 = "5"}})
            print("same by a table", named:predict(ds).metrics.mse == p.metrics.mse)
            m:save_state_dict("\(out)/back.safetensors", {mapping = "sequential"})
            local again = nn.load("\(out)/back.safetensors", {model = arch(3), mapping = "sequential"})
            print("round trip", again:predict(ds).outputs[2][3] == p.outputs[2][3])
            print("onnx", m:export_onnx("\(out)/m.onnx"))
            local ok, err = pcall(function() return nn.load("\(Self.torch)/mlp.safetensors", {model = arch(1)}) end)
            print("names", ok, err)
            ok, err = pcall(function() return nn.load("\(Self.torch)/mlp.safetensors") end)
            print("no architecture", ok, err)
            ok, err = pcall(function() return nn.load("\(Self.torch)/mlp.safetensors", {model = arch(1), mapping = "by_guess"}) end)
            print("bad mapping", ok, err)
            -- Fine-tuning the imported weights with a layer frozen by name.
            local iris = data.csv("\(TestPaths.sharedData("iris.csv"))"):standardize()
            local t = gpu.submit(gpu.training{model = arch(4), data = iris, epochs = 3,
              algorithm = gpu.transfer{base_model = "\(Self.torch)/mlp.safetensors", mapping = "sequential", learning_rate = 0.01},
              freeze = {"linear1"}}):await()
            print("frozen", table.concat(t.metrics.frozen_layers, ","),
                  t.model:parameter("linear1.weight")[7] == m:parameter("linear1.weight")[7],
                  t.model:parameter("linear3.weight")[7] ~= m:parameter("linear3.weight")[7])
            """)
        #expect(run.result.exitCode == 0, "\(run.result.message ?? "")\n\(run.output)")
        #expect(run.lines.contains("pytorch outputs\t8\ttrue"), "\(run.output)")
        #expect(run.lines.contains("same by a table\ttrue"), "\(run.output)")
        #expect(run.lines.contains("round trip\ttrue"), "\(run.output)")
        #expect(run.lines.contains("onnx\t\(out)/m.onnx"), "\(run.output)")
        #expect(run.output.contains("no tensor 'linear1.weight' for parameter linear1.weight"), "\(run.output)")
        #expect(run.output.contains("nn.load(path, {model = m})"), "\(run.output)")
        #expect(run.output.contains("mapping must be \"sequential\" or a table"), "\(run.output)")
        #expect(run.lines.contains("frozen\tlinear1\ttrue\ttrue"), "\(run.output)")
        let onnx = try Data(contentsOf: URL(fileURLWithPath: out + "/m.onnx"))
        #expect(onnx.count > 1000 && onnx.range(of: Data("LayerNormalization".utf8)) != nil)
    }
}
