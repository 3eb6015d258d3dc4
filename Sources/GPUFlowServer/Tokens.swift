import Foundation
import GPUFlowStore
import Yams

/// Per-agent bearer tokens, kept hashed (SHA-256) in a YAML file:
///
///     agents:
///       alice: {token_sha256: 2bb80d53…}
///       ops:   {token_sha256: 5e884898…, admin: true}
///
/// `printf %s "$TOKEN" | sha256sum` gives the hash. An agent sees and cancels only its own jobs;
/// an admin sees all.
public struct Tokens: Sendable {
    public struct Identity: Sendable, Equatable {
        public let agent: String
        public let admin: Bool
    }
    private let byHash: [String: Identity]

    public init(byHash: [String: Identity]) { self.byHash = byHash }

    public static func load(path: String) throws -> Tokens {
        guard let text = FileManager.default.contents(atPath: path).map({ String(decoding: $0, as: UTF8.self) }) else {
            throw ServerError.badTokens(path: path, reason: "cannot read the file")
        }
        guard let root = try Yams.load(yaml: text) as? [String: Any], let agents = root["agents"] as? [String: Any], !agents.isEmpty else {
            throw ServerError.badTokens(path: path, reason: "expected 'agents:' with at least one agent")
        }
        var map: [String: Identity] = [:]
        for (name, value) in agents {
            guard let entry = value as? [String: Any], let hash = (entry["token_sha256"] as? String)?.lowercased(),
                hash.count == 64, hash.allSatisfy(\.isHexDigit)
            else {
                throw ServerError.badTokens(path: path, reason: "agent '\(name)' needs token_sha256: the 64-hex-digit SHA-256 of its token")
            }
            guard map[hash] == nil else { throw ServerError.badTokens(path: path, reason: "two agents share one token") }
            map[hash] = Identity(agent: name, admin: entry["admin"] as? Bool ?? false)
        }
        return Tokens(byHash: map)
    }

    /// The identity behind an `Authorization: Bearer …` header, or nil.
    public func identify(_ header: String?) -> Identity? {
        guard let header, header.hasPrefix("Bearer ") else { return nil }
        let token = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty else { return nil }
        return byHash[ContentHash.of(token)]
    }
}

public enum ServerError: Error, CustomStringConvertible, Sendable {
    case badTokens(path: String, reason: String)
    /// The kernel's random source failed (errno).
    case noRandomness(errno: Int32)
    /// Another `gpuflow serve` holds the store (its pid, when it wrote one).
    case storeInUse(path: String, holder: String?)
    /// The store's lock file could not be opened or locked.
    case storeLock(path: String, errno: Int32)
    public var description: String {
        switch self {
        case .badTokens(let p, let r): return "tokens file \(p): \(r)"
        case .noRandomness(let e): return "the system's random source failed: \(String(cString: strerror(e))) (errno \(e))"
        case .storeInUse(let p, let h):
            return "another gpuflow serve\(h.map { " (pid \($0))" } ?? "") is serving from store \(p): give this one its own --store"
        case .storeLock(let p, let e): return "cannot lock \(p): \(String(cString: strerror(e))) (errno \(e))"
        }
    }
}
