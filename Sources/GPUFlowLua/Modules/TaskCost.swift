import Foundation
import GPUFlowCore
import GPUFlowML

/// An upper estimate of the host memory a task's own workload allocates while it runs (working
/// copies of the model, optimiser state, batches and activations, an evolutionary population,
/// a stream's arrival schedule and batches): in the sandbox it is charged to the script's budget
/// when the task is submitted and given back when it ends, so no task type can allocate far past
/// the limit where the Lua allocator does not see it.
enum TaskCost {
    static func bytes(_ type: GPUTaskType, _ inputs: TaskInputs) -> Int {
        // A graph's parameters (its largest candidate's, for an architecture search) and its
        // widest value per row, as an MLP's layers give them.
        let graphs = (inputs.graph.map { [$0] } ?? []) + inputs.candidates.map(\.graph)
        let params = inputs.model?.parameterCount ?? graphs.map(\.parameterCount).max() ?? 0
        let graphWidth = graphs.map { g in g.graph.parameters.map { $0.shape.last ?? 1 }.max() ?? 1 }.max() ?? 1
        let width = max(
            1, (inputs.model.map { [$0.inputs] + $0.hidden + [$0.outputs] } ?? [graphWidth, inputs.data?.cols ?? 1]).max() ?? 1)
        let rows = inputs.data?.rows ?? 0, cols = inputs.data?.cols ?? 0
        func product(_ xs: Int...) -> Int {
            xs.reduce(1) { a, b in
                let (p, o) = a.multipliedReportingOverflow(by: max(0, b))
                return o ? Int.max / 8 : p
            }
        }
        func sum(_ xs: Int...) -> Int { xs.reduce(0) { a, b in a > Int.max / 4 || b > Int.max / 4 ? Int.max / 4 : a + b } }
        // Every value a graph's pass computes for a batch (the tape keeps them all): attention's
        // heads × t² scores, a language model's t × vocabulary. A graph whose shapes do not fit
        // that batch fails on its first one; it is charged as if each row held its widest value.
        func graphValues(_ batch: Int) -> Int {
            graphs.map { g in
                (try? g.graph.values(rows: batch)) ?? product(batch, max(1, g.graph.parameters.map(\.values.count).max() ?? 1))
            }
            .max() ?? 0
        }
        switch type {
        case .training(let t):
            // The batch a step trains at (backprop's own batch_size wins, as Trainer.plan has it),
            // and the one validation is scored at (at least 256 rows a pass).
            var asked = t.batchSize
            if case .backpropagation(let b) = t.algorithm, let own = b.batchSize { asked = own }
            let batch = min(max(1, asked), max(1, rows))
            let scored = t.validationSplit > 0 ? min(max(batch, 256), max(1, rows)) : 0
            var total = sum(
                product(4, params, 4), product(4, batch, width, 4), product(4, rows, cols + 1), product(4, graphValues(batch), 2),
                scored > 0 ? product(4, graphValues(scored)) : 0)
            if case .evolutionary(let e) = t.algorithm {
                total = sum(total, product(4, e.populationSize, params, 2), product(4, e.populationSize, max(1, rows), width))
                // Each candidate is scored on up to 512 rows at a time.
                total = sum(total, product(4, graphValues(min(max(1, rows), 512))))
            }
            return total
        case .inference(let t):
            let batch = max(1, t.batchSize)
            let requests = t.stream?.requests ?? rows
            let inFlight = min(batch, max(1, requests))
            return sum(
                product(4, params, 2), product(4, inFlight, max(cols, width), 4), product(48, requests), product(4, graphValues(inFlight)))
        case .optimization:
            return sum(product(4, params, 8), product(4, rows, cols + 1, 2))
        case .hybridCompute:
            return inputs.inner.map { bytes($0, TaskInputs(model: inputs.model, data: inputs.data, graph: inputs.graph)) }
                ?? product(4, params, 4)
        default:
            return sum(product(4, params, 2), product(4, rows, cols + 1))
        }
    }
}

/// A charge given back exactly once: when the task's work ends, or when the task ends without
/// its work ever running (cancelled while queued).
final class TaskCharge: @unchecked Sendable {
    private let lock = NSLock()
    private var account: MemoryAccount?
    private let bytes: Int
    init(_ account: MemoryAccount, _ bytes: Int) {
        self.account = account
        self.bytes = bytes
    }
    func release() {
        lock.lock()
        let a = account
        account = nil
        lock.unlock()
        a?.release(bytes)
    }
}
