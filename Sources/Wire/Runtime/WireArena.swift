import CProtobufC

// MARK: - Messages

/// A message that crosses the wire: encoded and decoded by protobuf-c through its generated mapping.
package protocol WireMessage: Sendable {
    /// The fully qualified protobuf name, e.g. `agents.v1.Event`.
    static var protoName: String { get }
    init()
    /// The protobuf encoding of the message.
    func serializedBytes() -> [UInt8]
    /// Decodes a message; throws when the bytes are not a valid encoding of this type.
    init(serializedBytes bytes: UnsafeRawBufferPointer) throws(WireDecodingError)
}

extension WireMessage {
    /// Decodes a message from a byte array.
    package init(serializedBytes bytes: [UInt8]) throws(WireDecodingError) {
        let result: Result<Self, WireDecodingError> = bytes.withUnsafeBytes { raw in
            do throws(WireDecodingError) { return .success(try Self(serializedBytes: raw)) } catch { return .failure(error) }
        }
        self = try result.get()
    }
}

/// The bytes are not a valid protobuf encoding of the expected message.
package struct WireDecodingError: Error, Sendable, CustomStringConvertible {
    /// The protobuf name of the message that was expected.
    package var type: String
    package init(type: String) { self.type = type }
    package var description: String { "bytes do not decode as \(type)" }
}

// MARK: - Arena

/// Owns every C allocation made while filling a protobuf-c struct for encoding, and frees all of them
/// when it goes away. Used only inside one `serializedBytes()` call, so no C pointer outlives it.
package final class WireArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    package init() {}

    deinit {
        for block in blocks { block.deallocate() }
    }

    private func track<T>(_ pointer: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<T> {
        blocks.append(UnsafeMutableRawPointer(pointer))
        return pointer
    }

    /// Uninitialized memory for one C struct; the caller runs the message's `__init` on it.
    package func allocate<T>(_ type: T.Type) -> UnsafeMutablePointer<T> {
        track(UnsafeMutablePointer<T>.allocate(capacity: 1))
    }

    /// A NUL-terminated copy of the string. (protobuf-c strings end at the first NUL byte.)
    package func string(_ value: String) -> UnsafeMutablePointer<CChar> {
        var value = value
        return value.withUTF8 { utf8 in
            let pointer = track(UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count + 1))
            if let base = utf8.baseAddress {
                UnsafeMutableRawPointer(pointer).copyMemory(from: base, byteCount: utf8.count)
            }
            pointer[utf8.count] = 0
            return pointer
        }
    }

    /// A copy of the bytes as protobuf-c binary data.
    package func binary(_ value: [UInt8]) -> ProtobufCBinaryData {
        guard !value.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let pointer = track(UnsafeMutablePointer<UInt8>.allocate(capacity: value.count))
        pointer.initialize(from: value, count: value.count)
        return ProtobufCBinaryData(len: value.count, data: pointer)
    }

    /// An array of scalars, or nil when empty.
    package func scalars<T>(_ values: [T]) -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let pointer = track(UnsafeMutablePointer<T>.allocate(capacity: values.count))
        pointer.initialize(from: values, count: values.count)
        return pointer
    }

    /// An array of C strings, or nil when empty.
    package func strings(_ values: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        guard !values.isEmpty else { return nil }
        let pointer = track(UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: values.count))
        for (index, value) in values.enumerated() { (pointer + index).initialize(to: string(value)) }
        return pointer
    }

    /// An array of binary data, or nil when empty.
    package func binaries(_ values: [[UInt8]]) -> UnsafeMutablePointer<ProtobufCBinaryData>? {
        guard !values.isEmpty else { return nil }
        let pointer = track(UnsafeMutablePointer<ProtobufCBinaryData>.allocate(capacity: values.count))
        for (index, value) in values.enumerated() { (pointer + index).initialize(to: binary(value)) }
        return pointer
    }

    /// An array of pointers to C message structs, each allocated here and filled by `fill`.
    package func messages<Value, C>(
        _ values: [Value], as type: C.Type, fill: (Value, UnsafeMutablePointer<C>) -> Void
    ) -> UnsafeMutablePointer<UnsafeMutablePointer<C>?>? {
        guard !values.isEmpty else { return nil }
        let pointer = track(UnsafeMutablePointer<UnsafeMutablePointer<C>?>.allocate(capacity: values.count))
        for (index, value) in values.enumerated() {
            let element = allocate(C.self)
            fill(value, element)
            (pointer + index).initialize(to: element)
        }
        return pointer
    }

    // MARK: Reading unpacked messages (the unpacked struct is freed by the caller afterwards)

    package static func readString(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        pointer.map { String(cString: $0) } ?? ""
    }

    package static func readBinary(_ data: ProtobufCBinaryData) -> [UInt8] {
        guard let base = data.data, data.len > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: base, count: data.len))
    }

    package static func readScalars<T>(_ pointer: UnsafeMutablePointer<T>?, _ count: Int) -> [T] {
        guard let pointer, count > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: pointer, count: count))
    }

    package static func readStrings(_ pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ count: Int) -> [String] {
        guard let pointer, count > 0 else { return [] }
        return (0..<count).map { readString(pointer[$0]) }
    }

    package static func readBinaries(_ pointer: UnsafeMutablePointer<ProtobufCBinaryData>?, _ count: Int) -> [[UInt8]] {
        guard let pointer, count > 0 else { return [] }
        return (0..<count).map { readBinary(pointer[$0]) }
    }

    package static func readMessages<C, Value>(
        _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<C>?>?, _ count: Int, _ read: (C) -> Value
    ) -> [Value] {
        guard let pointer, count > 0 else { return [] }
        return (0..<count).compactMap { pointer[$0].map { read($0.pointee) } }
    }
}
