#!/usr/bin/env python3
"""Generates the Swift side of the wire from the descriptors protoc-c computes for proto/*.proto.

Input: a FileDescriptorSet (protoc-c --descriptor_set_out --include_source_info). Output: one Swift
file with, per message, a Swift value type, its C mapping over the protobuf-c generated code (encode
and decode go through protobuf-c; no C pointer escapes), JSON Codable conformance with the proto
field names; and per service, a handler protocol, route table and typed client.

Supported subset (the generator fails loudly on anything else): proto3 scalars, string, bytes,
singular and repeated messages, repeated scalars/strings/bytes. No enums, maps, oneofs or groups.
"""
import sys

# MARK: - Protobuf wire decoding (just enough for descriptor.proto)

def varint(b, i):
    shift = result = 0
    while True:
        c = b[i]; i += 1
        result |= (c & 0x7F) << shift
        if not c & 0x80:
            return result, i
        shift += 7

def fields(b):
    i, out = 0, []
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i); v = b[i:i + n]; i += n
        elif wt == 1:
            v = b[i:i + 8]; i += 8
        elif wt == 5:
            v = b[i:i + 4]; i += 4
        else:
            raise SystemExit(f"unsupported wire type {wt}")
        out.append((num, v))
    return out

def get(fs, num, default=None):
    for n, v in fs:
        if n == num:
            return v
    return default

def get_all(fs, num):
    return [v for n, v in fs if n == num]

def text(v):
    return v.decode() if isinstance(v, (bytes, bytearray)) else (v or "")

def packed_ints(v):
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i); out.append(x)
    return out

# MARK: - Model

SCALARS = {  # proto type -> (Swift type, default, C->Swift, Swift->C)
    1: ("Double", "0", "{c}", "{s}"),
    2: ("Float", "0", "{c}", "{s}"),
    3: ("Int64", "0", "{c}", "{s}"),
    4: ("UInt64", "0", "{c}", "{s}"),
    5: ("Int32", "0", "{c}", "{s}"),
    6: ("UInt64", "0", "{c}", "{s}"),
    7: ("UInt32", "0", "{c}", "{s}"),
    8: ("Bool", "false", "({c} != 0)", "({s} ? 1 : 0)"),
    13: ("UInt32", "0", "{c}", "{s}"),
    15: ("Int32", "0", "{c}", "{s}"),
    16: ("Int64", "0", "{c}", "{s}"),
    17: ("Int32", "0", "{c}", "{s}"),
    18: ("Int64", "0", "{c}", "{s}"),
}
STRING, BYTES, MESSAGE = 9, 12, 11

def camel(snake, upper=False):
    parts = snake.split("_")
    s = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    return s[:1].upper() + s[1:] if upper else s

def lower_first(name):
    return name[:1].lower() + name[1:]

def c_prefix(package):
    return "__".join(p.capitalize() for p in package.split("."))

def c_func_prefix(package):
    return "__".join(package.split("."))

def c_lower(name):
    # protoc-c: CamelCase -> camel_case for function names
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0 and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out += "_"
        out += ch.lower()
    return out

def swift_doc(comment, indent):
    if not comment:
        return ""
    lines = [l.strip() for l in comment.strip().splitlines()]
    return "".join(f"{indent}/// {l}".rstrip() + "\n" for l in lines)

SWIFT_KEYWORDS = {"default", "operator", "protocol", "extension", "import", "class", "struct", "enum", "func",
                  "var", "let", "in", "is", "as", "repeat", "return", "self", "Self", "type", "internal",
                  "public", "private", "static", "where", "case", "switch", "init", "deinit", "subscript"}

def ident(name):
    return f"`{name}`" if name in SWIFT_KEYWORDS else name

def main():
    data = open(sys.argv[1], "rb").read()
    out_path = sys.argv[2]
    files = [fields(f) for f in get_all(fields(data), 1)]
    messages, services = [], []
    for f in files:
        package = text(get(f, 2))
        comments = {}
        sci = get(f, 9)
        if sci is not None:
            for loc in get_all(fields(sci), 1):
                lf = fields(loc)
                path = tuple(packed_ints(get(lf, 1, b"")))
                lead = text(get(lf, 3, b""))
                trail = text(get(lf, 4, b""))
                comments[path] = (lead or trail).strip()
        if get_all(f, 5):
            raise SystemExit(f"{text(get(f, 1))}: enums are not supported; use strings")
        for mi, m in enumerate(get_all(f, 4)):
            mf = fields(m)
            name = text(get(mf, 1))
            if get_all(mf, 3) or get_all(mf, 4) or get_all(mf, 8):
                raise SystemExit(f"{name}: nested types, enums and oneofs are not supported")
            flds = []
            for fi, fd in enumerate(get_all(mf, 2)):
                ff = fields(fd)
                ftype = get(ff, 5)
                if ftype in (10, 14):
                    raise SystemExit(f"{name}.{text(get(ff, 1))}: groups and enums are not supported")
                if get(ff, 17):
                    raise SystemExit(f"{name}.{text(get(ff, 1))}: proto3 optional is not supported by protoc-c")
                flds.append(dict(name=text(get(ff, 1)), type=ftype, repeated=get(ff, 4) == 3,
                                 type_name=text(get(ff, 6, b"")).split(".")[-1],
                                 doc=comments.get((4, mi, 2, fi), "")))
            messages.append(dict(name=name, package=package, fields=flds, doc=comments.get((4, mi), "")))
        for si, s in enumerate(get_all(f, 6)):
            sf = fields(s)
            methods = []
            for mi, md in enumerate(get_all(sf, 2)):
                mf = fields(md)
                opts = get(mf, 4)
                level = get(fields(opts), 34, 0) if opts is not None else 0
                doc, callers = split_callers(comments.get((6, si, 2, mi), ""))
                methods.append(dict(name=text(get(mf, 1)), input=text(get(mf, 2)).split(".")[-1],
                                    output=text(get(mf, 3)).split(".")[-1], idempotent=level in (1, 2),
                                    doc=doc, callers=callers))
            services.append(dict(name=text(get(sf, 1)), package=package, methods=methods,
                                 doc=comments.get((6, si), "")))

    by_name = {m["name"]: m for m in messages}
    for m in messages:
        for fd in m["fields"]:
            if fd["type"] == MESSAGE and not fd["repeated"] and fd["type_name"] == m["name"]:
                raise SystemExit(f"{m['name']}.{fd['name']}: a message cannot hold itself singly; use repeated")

    w = []
    w.append("// Generated by scripts/gen-proto from proto/*.proto. Do not edit.\n")
    w.append("import CProtobufC\nimport CWire\n\n")
    w.append("/// The wire's message types, generated from `proto/`. Map them to domain types at the edges.\n")
    w.append("package enum PB {}\n")
    for m in messages:
        w.append(gen_message(m, by_name))
    for s in services:
        w.append(gen_service(s))
    w.append(gen_access(services))
    with open(out_path, "w") as fh:
        fh.write("".join(w))

def ctype(package, name):
    return f"{c_prefix(package)}__{name}"

def cfunc(package, name, suffix):
    return f"{c_func_prefix(package)}__{c_lower(name)}__{suffix}"

def gen_message(m, by_name):
    name, pkg = m["name"], m["package"]
    ct = ctype(pkg, name)
    o = ["\n// MARK: - " + name + "\n\n", "extension PB {\n", swift_doc(m["doc"], "    ")]
    o.append(f"    package struct {name}: Sendable, Hashable {{\n")
    for fd in m["fields"]:
        o.append(swift_doc(fd["doc"], "        "))
        o.append(f"        package var {ident(camel(fd['name']))}: {swift_type(fd)} = {swift_default(fd)}\n")
    o.append("        package init() {}\n    }\n}\n\n")

    # C mapping
    o.append(f"extension PB.{name}: WireMessage {{\n")
    o.append(f"    package static var protoName: String {{ \"{pkg}.{name}\" }}\n\n")
    o.append("    package func serializedBytes() -> [UInt8] {\n")
    o.append("        let arena = WireArena()\n")
    o.append(f"        var c = {ct}()\n        {cfunc(pkg, name, 'init')}(&c)\n")
    o.append("        fill(&c, arena)\n")
    o.append(f"        let size = {cfunc(pkg, name, 'get_packed_size')}(&c)\n")
    o.append("        guard size > 0 else { return [] }\n")
    o.append("        return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in\n")
    o.append(f"            count = {cfunc(pkg, name, 'pack')}(&c, buffer.baseAddress!)\n        }}\n    }}\n\n")
    o.append("    package init(serializedBytes bytes: UnsafeRawBufferPointer) throws(WireDecodingError) {\n")
    o.append(f"        guard let p = {cfunc(pkg, name, 'unpack')}(nil, bytes.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)) else {{\n")
    o.append(f"            throw WireDecodingError(type: Self.protoName)\n        }}\n")
    o.append(f"        defer {{ {cfunc(pkg, name, 'free_unpacked')}(p, nil) }}\n")
    o.append("        self.init(c: p.pointee)\n    }\n\n")

    o.append(f"    func fill(_ c: inout {ct}, _ arena: WireArena) {{\n")
    for fd in m["fields"]:
        o.append(fill_line(fd, pkg, by_name))
    o.append("    }\n\n")
    o.append(f"    init(c: {ct}) {{\n")
    for fd in m["fields"]:
        o.append(read_line(fd))
    o.append("    }\n}\n\n")

    # Codable with proto field names
    o.append(f"extension PB.{name}: Codable {{\n")
    if m["fields"]:
        o.append("    enum CodingKeys: String, CodingKey {\n")
        for fd in m["fields"]:
            o.append(f"        case {ident(camel(fd['name']))} = \"{fd['name']}\"\n")
        o.append("    }\n\n")
    o.append("    package init(from decoder: any Decoder) throws {\n")
    o.append("        self.init()\n")
    if m["fields"]:
        o.append("        let container = try decoder.container(keyedBy: CodingKeys.self)\n")
        for fd in m["fields"]:
            p = ident(camel(fd["name"]))
            o.append(f"        if let v = try container.decodeIfPresent({swift_type(fd, bare=True)}.self, forKey: .{camel(fd['name'])}) {{ self.{p} = v }}\n")
    o.append("    }\n\n")
    o.append("    package func encode(to encoder: any Encoder) throws {\n")
    if m["fields"]:
        o.append("        var container = encoder.container(keyedBy: CodingKeys.self)\n")
        for fd in m["fields"]:
            p = ident(camel(fd["name"]))
            if fd["type"] == MESSAGE and not fd["repeated"]:
                o.append(f"        try container.encodeIfPresent(self.{p}, forKey: .{camel(fd['name'])})\n")
            else:
                o.append(f"        try container.encode(self.{p}, forKey: .{camel(fd['name'])})\n")
    o.append("    }\n}\n")
    return "".join(o)

def swift_type(fd, bare=False):
    t = fd["type"]
    if t == STRING:
        base = "String"
    elif t == BYTES:
        base = "[UInt8]"
    elif t == MESSAGE:
        base = f"PB.{fd['type_name']}"
    else:
        base = SCALARS[t][0]
    if fd["repeated"]:
        return f"[{base}]"
    if t == MESSAGE and not bare:
        return base + "?"
    return base

def swift_default(fd):
    t = fd["type"]
    if fd["repeated"]:
        return "[]"
    if t == STRING:
        return '""'
    if t == BYTES:
        return "[]"
    if t == MESSAGE:
        return "nil"
    return SCALARS[t][1]

def fill_line(fd, pkg, by_name):
    n, p, t = fd["name"], "self." + ident(camel(fd["name"])), fd["type"]
    if fd["repeated"]:
        if t == STRING:
            return f"        c.n_{n} = {p}.count\n        c.{n} = arena.strings({p})\n"
        if t == BYTES:
            return f"        c.n_{n} = {p}.count\n        c.{n} = arena.binaries({p})\n"
        if t == MESSAGE:
            sub = fd["type_name"]
            sct = ctype(by_name[sub]["package"], sub)
            return (f"        c.n_{n} = {p}.count\n"
                    f"        c.{n} = arena.messages({p}, as: {sct}.self) {{ value, pointer in\n"
                    f"            {cfunc(by_name[sub]['package'], sub, 'init')}(pointer)\n"
                    f"            value.fill(&pointer.pointee, arena)\n        }}\n")
        conv = SCALARS[t][3].format(s="$0")
        mapped = p if conv == "$0" else f"{p}.map {{ {conv} }}"
        return f"        c.n_{n} = {p}.count\n        c.{n} = arena.scalars({mapped})\n"
    if t == STRING:
        return f"        c.{n} = arena.string({p})\n"
    if t == BYTES:
        return f"        c.{n} = arena.binary({p})\n"
    if t == MESSAGE:
        sub = fd["type_name"]
        sct = ctype(by_name[sub]["package"], sub)
        return (f"        if let value = {p} {{\n"
                f"            let pointer = arena.allocate({sct}.self)\n"
                f"            {cfunc(by_name[sub]['package'], sub, 'init')}(pointer)\n"
                f"            value.fill(&pointer.pointee, arena)\n"
                f"            c.{n} = pointer\n        }}\n")
    return f"        c.{n} = {SCALARS[t][3].format(s=p)}\n"

def read_line(fd):
    n, p, t = fd["name"], "self." + ident(camel(fd["name"])), fd["type"]
    if fd["repeated"]:
        if t == STRING:
            return f"        {p} = WireArena.readStrings(c.{n}, c.n_{n})\n"
        if t == BYTES:
            return f"        {p} = WireArena.readBinaries(c.{n}, c.n_{n})\n"
        if t == MESSAGE:
            return f"        {p} = WireArena.readMessages(c.{n}, c.n_{n}) {{ PB.{fd['type_name']}(c: $0) }}\n"
        conv = SCALARS[t][2].format(c="$0")
        tail = "" if conv == "$0" else f".map {{ {conv} }}"
        return f"        {p} = WireArena.readScalars(c.{n}, c.n_{n}){tail}\n"
    if t == STRING:
        return f"        {p} = WireArena.readString(c.{n})\n"
    if t == BYTES:
        return f"        {p} = WireArena.readBinary(c.{n})\n"
    if t == MESSAGE:
        return f"        {p} = c.{n}.map {{ PB.{fd['type_name']}(c: $0.pointee) }}\n"
    return f"        {p} = {SCALARS[t][2].format(c='c.' + n)}\n"

def split_callers(doc):
    """Takes the `callers: a, b` line out of a method's comment: the identities that may call it."""
    kept, callers = [], None
    for line in doc.split("\n"):
        stripped = line.strip()
        if stripped.startswith("callers:"):
            callers = sorted(c.strip() for c in stripped[len("callers:"):].split(",") if c.strip())
        else:
            kept.append(line)
    return "\n".join(kept).strip(), callers

def gen_access(services):
    # Fail closed: a method without a `callers:` line has no entry, and the server denies it.
    o = ["\n// MARK: - Access\n\n", "extension PB {\n",
         "    /// Method path → caller identities allowed (`*`: any holder of a certificate from the CA), from the\n",
         "    /// `callers:` line above each `rpc` in proto/*.proto. A method missing here is denied to everyone.\n",
         "    package static let accessTable: [String: Set<String>] = [\n"]
    for s in services:
        for m in s["methods"]:
            if m["callers"] is None:
                continue
            names = ", ".join(f'"{c}"' for c in m["callers"])
            o.append(f'        "/{s["package"]}.{s["name"]}/{m["name"]}": [{names}],\n')
    o.append("    ]\n}\n")
    return "".join(o)

def gen_service(s):
    name, pkg = s["name"], s["package"]
    o = [f"\n// MARK: - Service {name}\n\n"]
    o.append("extension PB {\n" + swift_doc(s["doc"], "    "))
    o.append(f"    package enum {name}Service {{\n")
    for m in s["methods"]:
        o.append(swift_doc(m["doc"], "        "))
        o.append(f"        package static let {ident(lower_first(m['name']))} = RPCMethod<PB.{m['input']}, PB.{m['output']}>(\n"
                 f"            path: \"/{pkg}.{name}/{m['name']}\", idempotent: {'true' if m['idempotent'] else 'false'})\n")
    o.append("    }\n}\n\n")
    o.append(swift_doc(s["doc"], ""))
    o.append(f"/// What a server of `{name}` implements: one method per RPC. Unimplemented methods answer UNIMPLEMENTED.\n")
    o.append(f"package protocol {name}Handler: Sendable {{\n")
    for m in s["methods"]:
        o.append(swift_doc(m["doc"], "    "))
        o.append(f"    func {lower_first(m['name'])}(_ request: PB.{m['input']}, context: RPCContext) async throws -> PB.{m['output']}\n")
    o.append("}\n\n")
    o.append(f"extension {name}Handler {{\n")
    for m in s["methods"]:
        o.append(f"    package func {lower_first(m['name'])}(_ request: PB.{m['input']}, context: RPCContext) async throws -> PB.{m['output']} {{\n"
                 f"        throw RPCError(.unimplemented, \"{name}.{m['name']} is not implemented\")\n    }}\n\n")
    o.append(f"    /// The server's dispatch table for `{name}`.\n")
    o.append("    package var routes: [RPCRoute] {\n        [\n")
    for m in s["methods"]:
        o.append(f"            RPCRoute(PB.{name}Service.{lower_first(m['name'])}) {{ request, context in try await self.{lower_first(m['name'])}(request, context: context) }},\n")
    o.append("        ]\n    }\n}\n\n")
    o.append(f"/// A typed client of `{name}` over one shared connection.\n")
    o.append(f"package struct {name}Client: Sendable {{\n    package let connection: RPCConnection\n\n")
    o.append("    package init(connection: RPCConnection) { self.connection = connection }\n\n")
    for m in s["methods"]:
        o.append(swift_doc(m["doc"], "    "))
        o.append(f"    package func {lower_first(m['name'])}(_ request: PB.{m['input']}, options: CallOptions = CallOptions()) async throws(RPCError) -> PB.{m['output']} {{\n"
                 f"        try await connection.call(PB.{name}Service.{lower_first(m['name'])}, request, options: options)\n    }}\n\n")
    o.append("}\n")
    return "".join(o)

if __name__ == "__main__":
    main()
