import CLua
import CLuaShim
import Foundation
import GPUFlowCore
import GPUFlowML

/// Swift objects living in Lua as full userdata: the userdata holds one retained pointer and the
/// bytes it was charged to the state's memory budget, both released by `__gc`. Each type has a
/// metatable named `gpu.<kind>` with `__gpuflow = true`, so any of our userdata can be
/// recognised without knowing its type first.
///
/// Every host object a script holds passes through `push`, so charging there makes one budget of
/// the Lua heap and the Swift arrays behind tensors, data sets, models and task results: twenty
/// 60 MB tensors cannot sit beside each other under a 64 MB limit.
enum LuaObjects {
    /// Creates the metatable for one kind. `index` handles property reads; method lookups fall
    /// through to `methods`.
    static func register(
        _ L: OpaquePointer, name: String, index: gf_swift_fn?, methods: [(String, gf_swift_fn)],
        metamethods: [(String, gf_swift_fn)] = []
    ) {
        luaL_newmetatable(L, name)
        lua_pushboolean(L, 1)
        lua_setfield(L, -2, "__gpuflow")
        gf_pushswiftfunction(L, LuaObjects.collect)
        lua_setfield(L, -2, "__gc")
        gf_newtable(L)
        for (n, f) in methods {
            gf_pushswiftfunction(L, f)
            lua_setfield(L, -2, n)
        }
        lua_setfield(L, -2, "__methods")
        if let index {
            gf_pushswiftfunction(L, index)
        } else {
            lua_getfield(L, -1, "__methods")
        }
        lua_setfield(L, -2, "__index")
        // getmetatable() answers with the type's name and setmetatable() is refused: the real
        // metatable (its __index, __gc, __gpuflow) is never the script's to change.
        LuaStack.push(L, name)
        lua_setfield(L, -2, "__metatable")
        gf_pushswiftfunction(L, LuaObjects.tostring)
        lua_setfield(L, -2, "__tostring")
        for (n, f) in metamethods {
            gf_pushswiftfunction(L, f)
            lua_setfield(L, -2, n)
        }
        gf_pop(L, 1)
    }

    static func push(_ L: OpaquePointer, _ object: AnyObject) {
        let name: String
        switch object {
        case is MLPModel: name = "gpu.model"
        case is GraphNetwork: name = "gpu.graph"
        case is Dataset: name = "gpu.dataset"
        case is HostTensor: name = "gpu.tensor"
        case is TaskDescriptor: name = "gpu.task"
        case is AlgorithmBox: name = "gpu.algorithm"
        case is PatternBox: name = "gpu.pattern"
        default: name = "gpu.object"
        }
        let bytes = hostBytes(object)
        var charged = 0
        if let limits = gf_limits_of(L) {
            if gf_charge(limits, bytes) == 0 {
                charged = bytes
            } else {
                // Over the budget: the object still reaches the script, which is stopped at its
                // next instruction (a limit once hit ends the job, even under pcall).
                gf_trip(L, Int32(GF_TRIP_MEMORY.rawValue))
            }
        }
        guard let slot = gf_newuserdata(L, slotSize) else { return }
        slot.storeBytes(of: Unmanaged.passRetained(object).toOpaque(), as: UnsafeMutableRawPointer?.self)
        slot.storeBytes(of: charged, toByteOffset: MemoryLayout<UnsafeMutableRawPointer?>.stride, as: Int.self)
        luaL_setmetatable(L, name)
    }

    /// A pointer to the object and the bytes charged for it.
    private static let slotSize = MemoryLayout<UnsafeMutableRawPointer?>.stride + MemoryLayout<Int>.stride

    /// What an object holds in host memory, as charged to the budget of the script holding it.
    static func hostBytes(_ object: AnyObject) -> Int {
        switch object {
        case let t as HostTensor: return 64 + 4 * t.values.count
        case let d as Dataset: return 256 + 4 * (d.features.count + d.labels.count)
        case let m as MLPModel: return 256 + 4 * m.parameterCount
        case let g as GraphNetwork: return 512 + 4 * g.parameterCount
        default: return 64
        }
    }

    /// The object behind our userdata at `idx`, if it is one and of type T.
    static func object<T>(_ L: OpaquePointer, _ idx: Int32) -> T? {
        guard isOurs(L, idx), let slot = lua_touserdata(L, idx),
            let p = slot.load(as: UnsafeMutableRawPointer?.self)
        else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(p).takeUnretainedValue() as? T
    }

    static func taskObject(_ L: OpaquePointer, _ idx: Int32) -> (any TaskObject)? {
        guard isOurs(L, idx), let slot = lua_touserdata(L, idx),
            let p = slot.load(as: UnsafeMutableRawPointer?.self)
        else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(p).takeUnretainedValue() as? any TaskObject
    }

    /// "model", "dataset", ... for our userdata; nil otherwise.
    static func kind(_ L: OpaquePointer, _ idx: Int32) -> String? {
        guard isOurs(L, idx) else { return nil }
        lua_getmetatable(L, idx)
        LuaStack.push(L, "__name")
        lua_rawget(L, -2)
        let name = LuaStack.string(L, -1)
        gf_pop(L, 2)
        return name.map { $0.hasPrefix("gpu.") ? String($0.dropFirst(4)) : $0 }
    }

    private static func isOurs(_ L: OpaquePointer, _ idx: Int32) -> Bool {
        guard lua_type(L, idx) == LUA_TUSERDATA, lua_getmetatable(L, idx) != 0 else { return false }
        LuaStack.push(L, "__gpuflow")
        lua_rawget(L, -2)
        let ours = lua_toboolean(L, -1) != 0
        gf_pop(L, 2)
        return ours
    }

    private static let collect: gf_swift_fn = { L in
        guard let L, let slot = lua_touserdata(L, 1) else { return 0 }
        if let p = slot.load(as: UnsafeMutableRawPointer?.self) {
            Unmanaged<AnyObject>.fromOpaque(p).release()
            slot.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
            let offset = MemoryLayout<UnsafeMutableRawPointer?>.stride
            let charged = slot.load(fromByteOffset: offset, as: Int.self)
            if charged > 0, let limits = gf_limits_of(L) { gf_release(limits, charged) }
            slot.storeBytes(of: 0, toByteOffset: offset, as: Int.self)
        }
        return 0
    }

    private static let tostring: gf_swift_fn = { L in
        guard let L else { return 0 }
        let text: String
        if let o: LuaDescribable = object(L, 1) {
            text = o.luaDescription
        } else {
            text = "<\(kind(L, 1) ?? "object")>"
        }
        LuaStack.push(L, text)
        return 1
    }

    /// Looks `key` up in the `__methods` table of the userdata at 1 and pushes it (or nil).
    static func pushMethod(_ L: OpaquePointer, _ key: String) {
        guard lua_getmetatable(L, 1) != 0 else { lua_pushnil(L); return }
        LuaStack.push(L, "__methods")
        lua_rawget(L, -2)
        guard lua_type(L, -1) == LUA_TTABLE else { gf_pop(L, 2); lua_pushnil(L); return }
        LuaStack.push(L, key)
        lua_rawget(L, -2)
        gf_remove(L, -2)
        gf_remove(L, -2)
    }
}

/// How an object prints with `print` / `tostring`.
protocol LuaDescribable { var luaDescription: String { get } }

/// A float array with a shape, held on the host: how arrays of floats cross the bridge without
/// a Lua value per element.
final class HostTensor: @unchecked Sendable, LuaDescribable {
    var values: [Float]
    let shape: [Int]
    init(values: [Float], shape: [Int]) {
        self.values = values
        self.shape = shape
    }
    var luaDescription: String {
        let head = values.prefix(6).map { String(format: "%g", $0) }.joined(separator: ", ")
        return "tensor(shape={\(shape.map(String.init).joined(separator: ", "))}, values={\(head)\(values.count > 6 ? ", ..." : "")})"
    }
}

/// Boxes for the task model's values so Lua can hold them between constructor and submit.
final class AlgorithmBox: LuaDescribable {
    let algorithm: TrainingAlgorithm
    /// For transfer learning given a model rather than a file: the base model itself.
    let baseModel: (any TaskObject)?
    /// For transfer learning from a PyTorch state dict: the names its tensors have, and
    /// whether every tensor must find a parameter.
    let mapping: StateDictMapping
    let strict: Bool
    init(_ a: TrainingAlgorithm, baseModel: (any TaskObject)? = nil, mapping: StateDictMapping = StateDictMapping(), strict: Bool = true) {
        algorithm = a
        self.baseModel = baseModel
        self.mapping = mapping
        self.strict = strict
    }
    var luaDescription: String { "algorithm(\(algorithm.name))" }
}

final class PatternBox: LuaDescribable {
    let pattern: CoordinationSpec
    init(_ p: CoordinationSpec) { pattern = p }
    var luaDescription: String { "pattern(\(pattern.pattern.rawValue))" }
}

extension MLPModel: LuaDescribable {
    var luaDescription: String {
        "model(\(objectID): \(([inputs] + hidden + [outputs]).map(String.init).joined(separator: "-")), \(parameterCount) parameters)"
    }
}

extension GraphNetwork: LuaDescribable {
    var luaDescription: String { "model(\(objectID): \(layers.joined(separator: " → ")), \(parameterCount) parameters)" }
}

extension Dataset: LuaDescribable {
    var luaDescription: String { "dataset(\(source): \(rows) rows × \(cols) features)" }
}
