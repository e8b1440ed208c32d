import CProtobufC

// MARK: - Messages

/// A message that crosses the wire: encoded and decoded by protobuf-c through its generated mapping.
package protocol WireMessage: Sendable {
    /// The fully qualified protobuf name, e.g. `agents.v1.Event`.
    static var protoName: String { get }
    init()
    /// The protobuf encoding of the message; throws when a string cannot be carried (it holds a NUL byte).
    func serializedBytes() throws(WireEncodingError) -> [UInt8]
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

/// The message cannot be encoded as it is: a string holds a NUL byte, where protobuf-c strings end.
/// (Send such data in a `bytes` field.) Nothing is cut silently.
package struct WireEncodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The protobuf name of the message being encoded, e.g. `agents.v1.Event`.
    package var type: String
    /// Where in the message, e.g. `message.text`, `fields[2].key`, `labels["region"]`.
    package var field: String

    package init(type: String = "", field: String) {
        self.type = type
        self.field = field
    }

    package var description: String {
        "cannot encode \(type): \(field) contains a NUL byte (protobuf-c strings end at the first NUL)"
    }

    /// The same error one level further out: `component` is the field holding the failing value.
    package func inside(_ component: String) -> WireEncodingError {
        guard !component.isEmpty else { return self }
        let joined = field.hasPrefix("[") ? component + field : component + "." + field
        return WireEncodingError(type: type, field: joined)
    }

    /// The error as reported for the message being encoded.
    package func `in`(_ type: String) -> WireEncodingError {
        WireEncodingError(type: type, field: field)
    }
}

// MARK: - Arena

/// Owns every C allocation made while filling a protobuf-c struct for encoding, and frees all of them
/// when it goes away. Used only inside one `serializedBytes()` call, so no C pointer outlives it.
///
/// Allocations are carved from slabs (the first one 2 KiB, enough for a typical event or decision), so
/// filling a message costs one or two heap allocations rather than one per string, array and
/// sub-message; empty strings all point at one static empty C string.
package final class WireArena {
    private var slab: UnsafeMutableRawPointer?
    private var used = 0
    private var capacity = 0
    /// Slabs filled before the current one.
    private var full: [UnsafeMutableRawPointer] = []

    package init() {}

    deinit {
        slab?.deallocate()
        for block in full { block.deallocate() }
    }

    /// Uninitialized room for `count` values of `T`, aligned for `T`. Everything stored here is a C value
    /// (structs, pointers, scalars, bytes), so nothing needs deinitializing before the slab goes.
    private func room<T>(_ type: T.Type, count: Int, alignment: Int = 8) -> UnsafeMutablePointer<T> {
        let alignment = max(MemoryLayout<T>.alignment, alignment)
        let size = MemoryLayout<T>.stride * max(1, count)
        var start = (used + alignment - 1) & ~(alignment - 1)
        if slab == nil || start + size > capacity {
            if let slab { full.append(slab) }
            capacity = max(Self.slabSize, size)
            slab = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
            start = 0
        }
        used = start + size
        return (slab! + start).bindMemory(to: T.self, capacity: max(1, count))
    }

    static let slabSize = 2048

    /// The one empty C string every empty string field points at (protobuf-c packs it as absent). Written
    /// once, never changed, only read by protobuf-c: safe to share across threads.
    nonisolated(unsafe) private static let empty: UnsafeMutablePointer<CChar> = {
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        pointer.initialize(to: 0)
        return pointer
    }()

    /// Uninitialized memory for one C struct; the caller runs the message's `__init` on it.
    package func allocate<T>(_ type: T.Type) -> UnsafeMutablePointer<T> {
        room(T.self, count: 1)
    }

    /// A NUL-terminated copy of the string; throws when the string itself holds a NUL byte, because
    /// protobuf-c would end the string there. `field` names it in the error (worked out only then).
    package func string(_ value: String, field: @autoclosure () -> String) throws(WireEncodingError) -> UnsafeMutablePointer<CChar> {
        if value.isEmpty { return Self.empty }
        var value = value
        let pointer: UnsafeMutablePointer<CChar>? = value.withUTF8 { utf8 in
            guard !utf8.contains(0) else { return nil }
            let pointer = room(CChar.self, count: utf8.count + 1)
            if let base = utf8.baseAddress {
                UnsafeMutableRawPointer(pointer).copyMemory(from: base, byteCount: utf8.count)
            }
            pointer[utf8.count] = 0
            return pointer
        }
        guard let pointer else { throw WireEncodingError(field: field()) }
        return pointer
    }

    /// A copy of the bytes as protobuf-c binary data.
    package func binary(_ value: [UInt8]) -> ProtobufCBinaryData {
        guard !value.isEmpty else { return ProtobufCBinaryData(len: 0, data: nil) }
        let pointer = room(UInt8.self, count: value.count)
        pointer.initialize(from: value, count: value.count)
        return ProtobufCBinaryData(len: value.count, data: pointer)
    }

    /// An array of scalars, or nil when empty.
    package func scalars<T>(_ values: [T]) -> UnsafeMutablePointer<T>? {
        guard !values.isEmpty else { return nil }
        let pointer = room(T.self, count: values.count)
        pointer.initialize(from: values, count: values.count)
        return pointer
    }

    /// An array of C strings, or nil when empty.
    package func strings(_ values: [String], field: String) throws(WireEncodingError) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        guard !values.isEmpty else { return nil }
        let pointer = room(UnsafeMutablePointer<CChar>?.self, count: values.count)
        pointer.initialize(repeating: nil, count: values.count)
        for (index, value) in values.enumerated() { pointer[index] = try string(value, field: "\(field)[\(index)]") }
        return pointer
    }

    /// An array of binary data, or nil when empty.
    package func binaries(_ values: [[UInt8]]) -> UnsafeMutablePointer<ProtobufCBinaryData>? {
        guard !values.isEmpty else { return nil }
        let pointer = room(ProtobufCBinaryData.self, count: values.count)
        for (index, value) in values.enumerated() { (pointer + index).initialize(to: binary(value)) }
        return pointer
    }

    /// One C message struct, allocated here and filled by `fill` (which runs the message's `__init`).
    package func message<Value, C>(
        _ value: Value, as type: C.Type, field: @autoclosure () -> String,
        fill: (Value, UnsafeMutablePointer<C>) throws(WireEncodingError) -> Void
    ) throws(WireEncodingError) -> UnsafeMutablePointer<C> {
        let element = allocate(C.self)
        do { try fill(value, element) } catch { throw error.inside(field()) }
        return element
    }

    /// An array of pointers to C message structs, each allocated here and filled by `fill`.
    package func messages<Value, C>(
        _ values: [Value], as type: C.Type, field: String,
        fill: (Value, UnsafeMutablePointer<C>) throws(WireEncodingError) -> Void
    ) throws(WireEncodingError) -> UnsafeMutablePointer<UnsafeMutablePointer<C>?>? {
        guard !values.isEmpty else { return nil }
        let pointer = room(UnsafeMutablePointer<C>?.self, count: values.count)
        pointer.initialize(repeating: nil, count: values.count)
        for (index, value) in values.enumerated() {
            pointer[index] = try message(value, as: C.self, field: "\(field)[\(index)]", fill: fill)
        }
        return pointer
    }

    /// A map's entries as protobuf-c's repeated entry messages, in key order so equal maps encode to
    /// equal bytes.
    package func entries<Key, Value, C>(
        _ map: [Key: Value], sortedBy areInIncreasingOrder: ((key: Key, value: Value), (key: Key, value: Value)) -> Bool,
        as type: C.Type, field: String,
        fill: ((key: Key, value: Value), UnsafeMutablePointer<C>) throws(WireEncodingError) -> Void
    ) throws(WireEncodingError) -> UnsafeMutablePointer<UnsafeMutablePointer<C>?>? {
        guard !map.isEmpty else { return nil }
        let sorted = map.sorted(by: areInIncreasingOrder)
        let pointer = room(UnsafeMutablePointer<C>?.self, count: sorted.count)
        pointer.initialize(repeating: nil, count: sorted.count)
        for (index, entry) in sorted.enumerated() {
            pointer[index] = try message(entry, as: C.self, field: "\(field)[\(String(reflecting: entry.key))]", fill: fill)
        }
        return pointer
    }

    // MARK: Unpacking

    /// protobuf-c's allocator over a fresh arena, for one `unpack`: every allocation of the unpacked
    /// message is carved from the arena's slabs and `free` does nothing, so the whole message goes at
    /// once when the arena does (after `body` returns), in one or two heap frees instead of one per field.
    package static func unpacking<T>(_ body: (UnsafeMutablePointer<ProtobufCAllocator>) throws(WireDecodingError) -> T) throws(WireDecodingError) -> T {
        let arena = WireArena()
        return try withExtendedLifetime(arena) { () throws(WireDecodingError) -> T in
            var allocator = ProtobufCAllocator(
                alloc: { data, size in
                    guard let data else { return nil }
                    let arena = Unmanaged<WireArena>.fromOpaque(data).takeUnretainedValue()
                    return UnsafeMutableRawPointer(arena.room(UInt8.self, count: size, alignment: 16))
                },
                free: { _, _ in },
                allocator_data: Unmanaged.passUnretained(arena).toOpaque())
            return try body(&allocator)
        }
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

// MARK: - JSON

/// JSON helpers of the generated Codable conformances.
package enum WireJSON {
    /// A map with integer or bool keys as a JSON object: proto3 JSON writes map keys as strings.
    package static func mapToJSON<Key: LosslessStringConvertible, Value>(_ map: [Key: Value]) -> [String: Value] {
        Dictionary(uniqueKeysWithValues: map.map { (String($0.key), $0.value) })
    }

    /// The map back from a JSON object; a key that does not parse as `Key` is a decoding error.
    package static func mapFromJSON<Key: LosslessStringConvertible & Hashable, Value>(
        _ object: [String: Value], codingPath: [any CodingKey]
    ) throws -> [Key: Value] {
        var map: [Key: Value] = [:]
        for (text, value) in object {
            guard let key = Key(text) else {
                throw DecodingError.dataCorrupted(DecodingError.Context(
                    codingPath: codingPath, debugDescription: "map key \(text) is not a \(Key.self)"))
            }
            map[key] = value
        }
        return map
    }
}
