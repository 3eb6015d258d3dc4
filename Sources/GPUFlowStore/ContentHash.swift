import Crypto
import Foundation
import GPUFlowCore

/// SHA-256 as lowercase hex: the address of every artifact and the identity of scripts,
/// modules and stage inputs.
public enum ContentHash {
    public static func of(_ data: Data) -> String { Hex.encode(SHA256.hash(data: data)) }
    public static func of(_ bytes: [UInt8]) -> String { of(Data(bytes)) }
    public static func of(_ text: String) -> String { of(Data(text.utf8)) }
}
