import CLua
import CLuaShim
import Foundation

/// The sandbox's `require`, which finds modules in the stdlib and the job's folder only.
///
/// It finds a module by name in the stdlib or the job's folder, and nowhere else. Lua's own searchers follow `package.path` (which a script could point at
/// `/etc/?`), accept precompiled chunks (mutated bytecode corrupts memory) and answer
/// `package.searchpath` for any file on the host; this one takes module names only, resolves
/// symbolic links, stays inside the two folders, reads text and refuses bytecode.
enum SandboxFunctions {
    static let functions: [(String, gf_swift_fn)] = [
        ("sandbox_module", { L in LuaBinding.call(L) { L, job in try module(L, job) } })
    ]

    /// A module's source may not be larger than this (it is read whole into the host).
    static let maxModuleBytes = 4 << 20

    /// Answers `sandbox_module(name)` with text and path, or nil and a message.
    private static func module(_ L: OpaquePointer, _ job: LuaJob) throws -> Int32 {
        guard let name = LuaStack.string(L, 1) else { throw LuaArgumentError("require: expected a module name") }
        switch locate(name, job: job) {
        case .success(let found):
            job.env.modules.note(name: name, path: found.path, text: found.text)
            LuaStack.push(L, found.text)
            LuaStack.push(L, found.path)
        case .failure(let message):
            lua_pushnil(L)
            LuaStack.push(L, message.description)
        }
        return 2
    }

    /// The size of a file in bytes, 0 when it cannot be read.
    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    struct Found {
        let path: String
        let text: String
    }

    struct Refusal: Error, CustomStringConvertible { let description: String }

    /// The module's file: NAME.lua or NAME/init.lua (dots as folders) under the stdlib, then
    /// under the job's folder.
    static func locate(_ name: String, job: LuaJob) -> Result<Found, Refusal> {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        let valid =
            !parts.isEmpty
            && parts.allSatisfy { p in
                guard let first = p.first, first == "_" || first.isASCII && first.isLetter else { return false }
                return p.allSatisfy { $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) }
            }
        guard valid, name.utf8.count <= 200 else {
            return .failure(Refusal(description: "module '\(name.prefix(200))' not found: a module name is words separated by dots"))
        }
        let relative = parts.joined(separator: "/")
        let jobFolder = URL(fileURLWithPath: job.request.path).deletingLastPathComponent().path
        for root in [job.env.stdlibPath, jobFolder.isEmpty ? "." : jobFolder] {
            let base = URL(fileURLWithPath: root).standardizedFileURL.resolvingSymlinksInPath().path
            for candidate in ["\(relative).lua", "\(relative)/init.lua"] {
                let real = URL(fileURLWithPath: base + "/" + candidate).resolvingSymlinksInPath().path
                guard real.hasPrefix(base + "/") else { continue }  // a link out of the folder
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                let size = fileSize(real)
                guard size <= maxModuleBytes else {
                    return .failure(Refusal(description: "module '\(name)': \(candidate) is over \(maxModuleBytes) bytes"))
                }
                guard let data = FileManager.default.contents(atPath: real) else { continue }
                guard data.first != 0x1B else {
                    return .failure(Refusal(description: "module '\(name)': \(candidate) is a binary chunk; the sandbox loads text only"))
                }
                return .success(Found(path: real, text: String(decoding: data, as: UTF8.self)))
            }
        }
        return .failure(Refusal(description: "module '\(name)' not found in the stdlib or the job's folder"))
    }
}
