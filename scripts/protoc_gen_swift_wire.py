#!/usr/bin/env python3
"""Generates the Swift side of the wire from the descriptors protoc-c computes for proto/*.proto.

Usage: protoc_gen_swift_wire.py DESCRIPTORS.pb MESSAGES.swift PARTIAL_HANDLERS.swift

Input: a FileDescriptorSet (protoc-c --descriptor_set_out --include_source_info). Output:
- MESSAGES.swift: per message a Swift value type, its C mapping over the protobuf-c generated code
  (encode and decode go through protobuf-c; no C pointer escapes), JSON Codable conformance with the
  proto field names and `FieldNumber` constants; per enum a Swift enum; per service a handler protocol
  (no default implementations: a missing or misspelled method does not compile), its route table and a
  typed client; and the access table from the `callers:` lines.
- PARTIAL_HANDLERS.swift (test support only): per service `Partial<Name>Handler`, whose methods answer
  UNIMPLEMENTED unless the conformer implements them.

Supported subset (the generator fails loudly on anything else):
- proto3 scalars, string, bytes, singular and repeated messages, repeated scalars/strings/bytes/enums;
- `enum`, top-level or nested: a Swift enum with one case per value (prefix stripped, lowerCamel) and
  `unrecognized(Int32)`, since proto3 enums are open; JSON is the lower snake name without the prefix;
- messages nested in messages: Swift nested types (`PB.Outer.Inner`);
- `oneof`: a nested Swift enum named after the oneof in UpperCamel, held in an optional property;
  JSON carries the set member under its own field name, at most one;
- `map<K, V>` as `[K: V]`, encoded in key order so the bytes are stable; JSON keys are strings;
- no proto3 `optional`: protoc-c 1.4.1 refuses it. A singular message field is already optional
  (`T?`); a scalar whose absence matters goes in a wrapper message.
No groups, extensions or aliases. Strings holding a NUL byte are refused when encoding
(`WireEncodingError` names the field), because protobuf-c strings end at the first NUL.
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

def int32(v):
    return v - (1 << 64) if v >= (1 << 63) else v

def packed_ints(v):
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i); out.append(x)
    return out

def fail(message):
    raise SystemExit(f"protoc_gen_swift_wire: {message}")

# MARK: - Names

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
STRING, BYTES, MESSAGE, ENUM, GROUP = 9, 12, 11, 14, 10

# Every Swift keyword and contextual keyword that can clash with an emitted identifier; one backtick
# rule for all of them (properties, coding keys, enum and oneof cases, methods, constants).
SWIFT_KEYWORDS = {
    # declarations
    "associatedtype", "borrowing", "class", "consuming", "deinit", "enum", "extension", "fileprivate",
    "func", "import", "init", "inout", "internal", "let", "nonisolated", "open", "operator", "package",
    "precedencegroup", "private", "protocol", "public", "rethrows", "static", "struct", "subscript",
    "typealias", "var", "macro", "actor",
    # statements
    "break", "case", "catch", "continue", "default", "defer", "do", "else", "fallthrough", "for",
    "guard", "if", "in", "repeat", "return", "throw", "switch", "where", "while", "discard",
    # expressions and types
    "Any", "as", "async", "await", "false", "is", "nil", "self", "Self", "super", "throws", "true",
    "try", "Type", "Protocol", "some", "any", "each", "copy", "consume",
    # contextual
    "associativity", "convenience", "didSet", "dynamic", "final", "get", "indirect", "infix", "lazy",
    "left", "mutating", "none", "nonmutating", "optional", "override", "postfix", "precedence",
    "prefix", "required", "right", "set", "unowned", "weak", "willSet", "type",
}

# Names Swift resolves to something else even in backticks when written after a dot (`X.Type` is the
# metatype), so a nested type cannot carry them.
UNUSABLE_TYPE_NAMES = {"Type", "Protocol", "Self"}

# protoc-c appends `_` to C field names that are C/C++ keywords.
C_KEYWORDS = set("""and and_eq asm auto bitand bitor bool break case catch char class compl const
const_cast continue default delete do double dynamic_cast else enum explicit extern false float for
friend goto if inline int long mutable namespace new not not_eq operator or or_eq private protected
public register reinterpret_cast return short signed sizeof static static_cast struct switch template
this throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t while
xor xor_eq""".split())

def ident(name):
    """A Swift identifier for a generated name: backticked when it is a keyword."""
    return f"`{name}`" if name in SWIFT_KEYWORDS else name

def type_ident(name, where):
    if name in UNUSABLE_TYPE_NAMES:
        fail(f"{where}: a Swift nested type cannot be named `{name}`; rename it in the proto")
    return ident(name)

def c_field(name):
    """The protoc-c struct member of a field, as Swift spells it after a dot."""
    name = name.lower()
    name = name + "_" if name in C_KEYWORDS else name
    return ident(name)

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
    # protoc-c's CamelToLower: an underscore only where a capital follows a non-capital, so a run of
    # capitals stays one word (AIResponse -> airesponse, SendMessage -> send_message).
    out, was_upper = "", True
    for ch in name:
        if ch.isupper():
            if not was_upper:
                out += "_"
            out += ch.lower()
            was_upper = True
        else:
            out += ch
            was_upper = False
    return out

def upper_snake(camel_name):
    return c_lower(camel_name).upper()

def swift_doc(comment, indent):
    if not comment:
        return ""
    lines = [l.strip() for l in comment.strip().splitlines()]
    return "".join(f"{indent}/// {l}".rstrip() + "\n" for l in lines)

def swift_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

# MARK: - Model

class Enum:
    def __init__(self, package, path, doc):
        self.package, self.path, self.doc = package, path, doc
        self.full = "." + package + "." + ".".join(path)
        self.swift = "PB." + ".".join(type_ident(p, self.full[1:]) for p in path)
        self.values = []  # (case, snake, number, doc)

class Message:
    def __init__(self, package, path, doc):
        self.package, self.path, self.doc = package, path, doc
        self.full = "." + package + "." + ".".join(path)
        self.proto = self.full[1:]
        self.swift = "PB." + ".".join(type_ident(p, self.proto) for p in path)
        self.ctype = c_prefix(package) + "__" + "__".join(path)
        self.cfunc = c_func_prefix(package) + "__" + "__".join(c_lower(p) for p in path)
        self.fields, self.oneofs, self.nested, self.enums = [], [], [], []
        self.map_entry = False
        self.top = len(path) == 1

    @property
    def parent_swift(self):
        return self.swift.rsplit(".", 1)[0]

    @property
    def swift_name(self):
        return self.swift.rsplit(".", 1)[1]

class Field:
    def __init__(self, ff, doc, owner):
        self.name = text(get(ff, 1))
        self.number = int32(get(ff, 3, 0))
        self.repeated = get(ff, 4) == 3
        self.type = get(ff, 5)
        self.type_name = text(get(ff, 6, b""))
        self.oneof = get(ff, 9)
        self.doc = doc
        self.where = f"{owner}.{self.name}"
        if get(ff, 17):
            fail(f"{self.where}: proto3 `optional` is not supported by protoc-c 1.4.1; a message field is "
                 "already optional, a scalar whose absence matters goes in a wrapper message")
        if self.type == GROUP:
            fail(f"{self.where}: groups are not supported")
        self.prop = ident(camel(self.name))
        self.key = ident(camel(self.name))
        self.c = c_field(self.name)
        self.n = "n_" + c_field(self.name).strip("`")

class Oneof:
    def __init__(self, name, doc, owner):
        self.name, self.doc = name, doc
        self.type = type_ident(camel(name, upper=True), f"{owner.proto}.{name}")
        self.prop = ident(camel(name))
        self.ccase = c_field(name + "_case")
        self.members = []
        self.owner = owner

def parse_enum(ed, package, path, comments, cpath):
    e = Enum(package, path, comments.get(cpath, ""))
    ef = fields(ed)
    prefix = upper_snake(path[-1]) + "_"
    seen_numbers, seen_cases = {}, set()
    for vi, vd in enumerate(get_all(ef, 2)):
        vf = fields(vd)
        vname, number = text(get(vf, 1)), int32(get(vf, 2, 0))
        snake = vname[len(prefix):] if vname.startswith(prefix) and len(vname) > len(prefix) \
            and not vname[len(prefix)].isdigit() else vname
        snake = snake.lower()
        case = ident(camel(snake))
        if number in seen_numbers:
            fail(f"{e.full[1:]}.{vname}: aliases are not supported (number {number} is {seen_numbers[number]})")
        if camel(snake) in ("unrecognized", "rawValue", "name", "allCases") or case in seen_cases:
            fail(f"{e.full[1:]}.{vname}: the Swift case `{camel(snake)}` clashes; rename the value")
        seen_numbers[number] = vname
        seen_cases.add(case)
        e.values.append((case, snake, number, comments.get(cpath + (2, vi), "")))
    if not e.values or e.values[0][2] != 0:
        fail(f"{e.full[1:]}: the first value must be 0")
    return e

def parse_message(md, package, path, comments, cpath, messages, enums):
    mf = fields(md)
    m = Message(package, path, comments.get(cpath, ""))
    opts = get(mf, 7)
    m.map_entry = bool(opts is not None and get(fields(opts), 7, 0))
    if get_all(mf, 6) or get_all(mf, 5):
        fail(f"{m.proto}: extensions are not supported")
    messages.append(m)
    for ni, nd in enumerate(get_all(mf, 3)):
        nested = parse_message(nd, package, path + [text(get(fields(nd), 1))], comments, cpath + (3, ni), messages, enums)
        m.nested.append(nested)
    for ei, ed in enumerate(get_all(mf, 4)):
        e = parse_enum(ed, package, path + [text(get(fields(ed), 1))], comments, cpath + (4, ei))
        enums.append(e)
        m.enums.append(e)
    for oi, od in enumerate(get_all(mf, 8)):
        m.oneofs.append(Oneof(text(get(fields(od), 1)), comments.get(cpath + (8, oi), ""), m))
    for fi, fd in enumerate(get_all(mf, 2)):
        f = Field(fields(fd), comments.get(cpath + (2, fi), ""), m.proto)
        if f.oneof is not None:
            m.oneofs[f.oneof].members.append(f)
        else:
            m.fields.append(f)
    names = [n.swift_name for n in m.nested] + [e.swift.rsplit(".", 1)[1] for e in m.enums] + [o.type for o in m.oneofs]
    for n in names:
        if names.count(n) > 1 or n in ("FieldNumber", "CodingKeys"):
            fail(f"{m.proto}: the nested name `{n}` is used twice or clashes with a generated one")
    return m

# MARK: - Types of fields

class Model:
    def __init__(self, messages, enums):
        self.messages = {m.full: m for m in messages}
        self.enums = {e.full: e for e in enums}

    def message(self, f):
        return self.messages[f.type_name]

    def enum(self, f):
        return self.enums[f.type_name]

    def is_map(self, f):
        return f.type == MESSAGE and f.repeated and self.message(f).map_entry

    def map_kv(self, f):
        entry = self.message(f)
        key = next(x for x in entry.fields if x.number == 1)
        value = next(x for x in entry.fields if x.number == 2)
        return entry, key, value

    def element_type(self, f):
        """The Swift type of one value of the field, ignoring repetition and optionality."""
        if f.type == STRING:
            return "String"
        if f.type == BYTES:
            return "[UInt8]"
        if f.type == MESSAGE:
            return self.message(f).swift
        if f.type == ENUM:
            return self.enum(f).swift
        return SCALARS[f.type][0]

    def swift_type(self, f):
        if self.is_map(f):
            _, k, v = self.map_kv(f)
            return f"[{self.element_type(k)}: {self.element_type(v)}]"
        base = self.element_type(f)
        if f.repeated:
            return f"[{base}]"
        if f.type == MESSAGE:
            return base + "?"
        return base

    def default(self, f):
        if self.is_map(f):
            return "[:]"
        if f.repeated:
            return "[]"
        if f.type == STRING:
            return '""'
        if f.type == BYTES:
            return "[]"
        if f.type == MESSAGE:
            return "nil"
        if f.type == ENUM:
            return "." + self.enum(f).values[0][0]
        return SCALARS[f.type][1]

    # C -> Swift for one value held in C expression `c`
    def read_value(self, f, c):
        if f.type == STRING:
            return f"WireArena.readString({c})"
        if f.type == BYTES:
            return f"WireArena.readBinary({c})"
        if f.type == MESSAGE:
            return f"{self.message(f).swift}(c: {c}.pointee)"
        if f.type == ENUM:
            return f"{self.enum(f).swift}(rawValue: Int32(truncatingIfNeeded: {c}.rawValue))"
        return SCALARS[f.type][2].format(c=c)

    def c_enum(self, f):
        e = self.enum(f)
        return c_prefix(e.package) + "__" + "__".join(e.path)

    # Swift -> C for one value `s` of the field; `field` is the name errors report
    def write_value(self, f, s, field, indent):
        if f.type == STRING:
            return f"try arena.string({s}, field: {swift_string(field)})"
        if f.type == BYTES:
            return f"arena.binary({s})"
        if f.type == MESSAGE:
            sub = self.message(f)
            return (f"try arena.message({s}, as: {sub.ctype}.self, field: {swift_string(field)}) {{ value, pointer throws(WireEncodingError) in\n"
                    f"{indent}    {sub.cfunc}__init(pointer)\n"
                    f"{indent}    try value.fill(&pointer.pointee, arena)\n{indent}}}")
        if f.type == ENUM:
            return f"{self.c_enum(f)}(rawValue: .init(truncatingIfNeeded: {s}.rawValue))"
        return SCALARS[f.type][3].format(s=s)

# MARK: - Reachability (value types cannot contain themselves)

def check_cycles(model):
    """A oneof case holding a message that can reach its owner is `indirect`; a cycle through singular
    message fields alone cannot be a Swift value type and is refused."""
    def edges(m, hard_only):
        out = [model.message(f) for f in m.fields if f.type == MESSAGE and not f.repeated]
        if not hard_only:
            out += [model.message(f) for o in m.oneofs for f in o.members if f.type == MESSAGE]
        return out

    def reaches(start, target, hard_only):
        seen, stack = set(), [start]
        while stack:
            m = stack.pop()
            if m.full == target.full:
                return True
            if m.full in seen:
                continue
            seen.add(m.full)
            stack.extend(edges(m, hard_only))
        return False

    indirect = set()
    for m in model.messages.values():
        for f in m.fields:
            if f.type == MESSAGE and not f.repeated and reaches(model.message(f), m, True):
                fail(f"{f.where}: a message cannot hold itself through singular fields; use repeated or a oneof")
        for o in m.oneofs:
            for f in o.members:
                if f.type == MESSAGE and reaches(model.message(f), m, False):
                    indirect.add((m.full, f.name))
    return indirect

# MARK: - Main

def main():
    if len(sys.argv) != 4:
        fail("usage: protoc_gen_swift_wire.py DESCRIPTORS.pb MESSAGES.swift PARTIAL_HANDLERS.swift")
    data = open(sys.argv[1], "rb").read()
    files = [fields(f) for f in get_all(fields(data), 1)]
    messages, enums, services = [], [], []
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
        if get_all(f, 7):
            fail(f"{text(get(f, 1))}: extensions are not supported")
        for ei, ed in enumerate(get_all(f, 5)):
            enums.append(parse_enum(ed, package, [text(get(fields(ed), 1))], comments, (5, ei)))
        for mi, m in enumerate(get_all(f, 4)):
            parse_message(m, package, [text(get(fields(m), 1))], comments, (4, mi), messages, enums)
        for si, s in enumerate(get_all(f, 6)):
            sf = fields(s)
            methods = []
            for mi, md in enumerate(get_all(sf, 2)):
                mf = fields(md)
                opts = get(mf, 4)
                level = get(fields(opts), 34, 0) if opts is not None else 0
                doc, callers = split_callers(comments.get((6, si, 2, mi), ""))
                methods.append(dict(name=text(get(mf, 1)), input=text(get(mf, 2)), output=text(get(mf, 3)),
                                    idempotent=level in (1, 2), doc=doc, callers=callers))
            services.append(dict(name=text(get(sf, 1)), package=package, methods=methods,
                                 doc=comments.get((6, si), "")))

    model = Model(messages, enums)
    indirect = check_cycles(model)
    for s in services:
        for m in s["methods"]:
            for t in (m["input"], m["output"]):
                if not model.messages[t].top:
                    fail(f"{s['name']}.{m['name']}: RPC messages must be top-level ({t[1:]})")
            m["input"] = model.messages[m["input"]].swift
            m["output"] = model.messages[m["output"]].swift

    w = []
    w.append("// Generated by scripts/gen-proto from proto/*.proto. Do not edit.\n")
    w.append("import CProtobufC\nimport CWire\n\n")
    w.append("/// The wire's message types, generated from `proto/`. Map them to domain types at the edges.\n")
    w.append("package enum PB {}\n")
    for e in enums:
        if len(e.path) == 1:
            w.append(gen_enum(e))
    for m in messages:
        if not m.map_entry:
            w.append(gen_message(m, model, indirect))
    for s in services:
        w.append(gen_service(s))
    w.append(gen_access(services))
    with open(sys.argv[2], "w") as fh:
        fh.write("".join(w))
    with open(sys.argv[3], "w") as fh:
        fh.write(gen_partial_handlers(services))

# MARK: - Enums

def gen_enum(e):
    name = e.swift.rsplit(".", 1)[1]
    o = [f"\n// MARK: - {e.full[1:]}\n\n", f"extension {e.swift.rsplit('.', 1)[0]} {{\n"]
    o.append(swift_doc(e.doc, "    "))
    o.append(f"    package enum {name}: Sendable, Hashable, RawRepresentable, CaseIterable {{\n")
    for case, _, number, doc in e.values:
        o.append(swift_doc(doc, "        "))
        o.append(f"        case {case} // = {number}\n")
    o.append("        /// A number this build does not know, kept as is: proto3 enums are open, so a value a newer\n"
             "        /// peer sends survives a round trip.\n")
    o.append("        case unrecognized(Int32)\n\n")
    o.append("        /// Every value this build knows.\n")
    o.append("        package static let allCases: [Self] = [" + ", ".join("." + c for c, _, _, _ in e.values) + "]\n\n")
    o.append("        package init(rawValue: Int32) {\n            switch rawValue {\n")
    for case, _, number, _ in e.values:
        o.append(f"            case {number}: self = .{case}\n")
    o.append("            default: self = .unrecognized(rawValue)\n            }\n        }\n\n")
    o.append("        package var rawValue: Int32 {\n            switch self {\n")
    for case, _, number, _ in e.values:
        o.append(f"            case .{case}: {number}\n")
    o.append("            case .unrecognized(let number): number\n            }\n        }\n\n")
    o.append("        /// The value's name in JSON and logs: the proto name without the enum's prefix, lower snake case;\n"
             "        /// the number for a value this build does not know.\n")
    o.append("        package var name: String {\n            switch self {\n")
    for case, snake, _, _ in e.values:
        o.append(f"            case .{case}: \"{snake}\"\n")
    o.append("            case .unrecognized(let number): String(number)\n            }\n        }\n\n")
    o.append("        /// The value with that `name`; nil for a name this build does not know.\n")
    o.append("        package init?(name: String) {\n            switch name {\n")
    for case, snake, _, _ in e.values:
        o.append(f"            case \"{snake}\": self = .{case}\n")
    o.append("            default: return nil\n            }\n        }\n\n")
    o.append("        // Equal by number: `.unrecognized(1)` is the value numbered 1.\n")
    o.append("        package static func == (lhs: Self, rhs: Self) -> Bool { lhs.rawValue == rhs.rawValue }\n")
    o.append("        package func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }\n")
    o.append("    }\n}\n\n")
    o.append(f"extension {e.swift}: Codable {{\n")
    o.append("    package init(from decoder: any Decoder) throws {\n"
             "        let container = try decoder.singleValueContainer()\n"
             "        // A name, or the number of a value the sender knows and this build may not.\n"
             "        do {\n"
             "            self.init(rawValue: try container.decode(Int32.self))\n"
             "            return\n"
             "        } catch DecodingError.typeMismatch {}\n"
             "        let name = try container.decode(String.self)\n"
             "        guard let value = Self(name: name) else {\n"
             f"            throw DecodingError.dataCorruptedError(in: container, debugDescription: \"unknown {e.full[1:]} value \\(name)\")\n"
             "        }\n"
             "        self = value\n"
             "    }\n\n")
    o.append("    package func encode(to encoder: any Encoder) throws {\n"
             "        var container = encoder.singleValueContainer()\n"
             "        if case .unrecognized(let number) = self { try container.encode(number) } else { try container.encode(name) }\n"
             "    }\n}\n")
    return "".join(o)

# MARK: - Messages

def gen_message(m, model, indirect):
    ct = m.ctype
    o = [f"\n// MARK: - {m.proto}\n\n", f"extension {m.parent_swift} {{\n", swift_doc(m.doc, "    ")]
    o.append(f"    package struct {m.swift_name}: Sendable, Hashable {{\n")
    for f in m.fields:
        o.append(swift_doc(f.doc, "        "))
        o.append(f"        package var {f.prop}: {model.swift_type(f)} = {model.default(f)}\n")
    for one in m.oneofs:
        o.append(swift_doc(one.doc, "        "))
        o.append(f"        package var {one.prop}: {one.type}? = nil\n")
    o.append("        package init() {}\n    }\n}\n")

    for e in m.enums:
        o.append(gen_enum(e))

    # Oneof enums and field numbers
    o.append(f"\nextension {m.swift} {{\n")
    for one in m.oneofs:
        o.append(swift_doc(one.doc, "    "))
        o.append(f"    package enum {one.type}: Sendable, Hashable {{\n")
        for f in one.members:
            o.append(swift_doc(f.doc, "        "))
            word = "indirect case" if (m.full, f.name) in indirect else "case"
            o.append(f"        {word} {f.key}({model.element_type(f)})\n")
        o.append("    }\n\n")
    o.append("    /// The proto field numbers.\n    package enum FieldNumber {\n")
    for f in all_fields(m):
        o.append(f"        package static let {f.key}: Int32 = {f.number}\n")
    o.append("    }\n}\n\n")

    # C mapping
    if m.top:
        o.append(f"extension {m.swift}: WireMessage {{\n")
        o.append(f"    package static var protoName: String {{ \"{m.proto}\" }}\n\n")
        o.append("    package func serializedBytes() throws(WireEncodingError) -> [UInt8] {\n")
        o.append("        let arena = WireArena()\n")
        o.append("        // The C struct points into the arena's blocks until `pack` returns.\n")
        o.append("        return try withExtendedLifetime(arena) { () throws(WireEncodingError) -> [UInt8] in\n")
        o.append(f"            var c = {ct}()\n            {m.cfunc}__init(&c)\n")
        o.append("            do throws(WireEncodingError) { try fill(&c, arena) } catch { throw error.in(Self.protoName) }\n")
        o.append(f"            let size = {m.cfunc}__get_packed_size(&c)\n")
        o.append("            guard size > 0 else { return [] }\n")
        o.append("            return [UInt8](unsafeUninitializedCapacity: size) { buffer, count in\n")
        o.append(f"                count = {m.cfunc}__pack(&c, buffer.baseAddress!)\n            }}\n        }}\n    }}\n\n")
        o.append("    package init(serializedBytes bytes: UnsafeRawBufferPointer) throws(WireDecodingError) {\n")
        o.append("        // Unpacked into an arena, which frees the whole C message when the Swift value is made.\n")
        o.append("        self = try WireArena.unpacking { allocator throws(WireDecodingError) -> Self in\n")
        o.append(f"            guard let p = {m.cfunc}__unpack(allocator, bytes.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)) else {{\n")
        o.append(f"                throw WireDecodingError(type: Self.protoName)\n            }}\n")
        o.append("            return Self(c: p.pointee)\n        }\n    }\n}\n\n")

    o.append(f"extension {m.swift} {{\n")
    o.append(f"    func fill(_ c: inout {ct}, _ arena: WireArena) throws(WireEncodingError) {{\n")
    for f in m.fields:
        o.append(fill_field(f, model))
    for one in m.oneofs:
        o.append(fill_oneof(one, model))
    o.append("    }\n\n")
    o.append(f"    init(c: {ct}) {{\n")
    for f in m.fields:
        o.append(read_field(f, model))
    for one in m.oneofs:
        o.append(read_oneof(one, model))
    o.append("    }\n}\n\n")
    o.append(gen_codable(m, model))
    return "".join(o)

def all_fields(m):
    return sorted(m.fields + [f for one in m.oneofs for f in one.members], key=lambda f: f.number)

def fill_field(f, model):
    p, c = "self." + f.prop, "c." + f.c
    field = f.name
    if model.is_map(f):
        entry, k, v = model.map_kv(f)
        order = "{ !$0.key && $1.key }" if k.type == 8 else "{ $0.key < $1.key }"
        value = model.write_value(v, "entry.value", "", "            ")
        if v.type == MESSAGE:
            # The value's own fields are named after the map entry, without a `.value` step.
            sub = model.message(v)
            value = (f"try arena.message(entry.value, as: {sub.ctype}.self, field: \"\") {{ value, pointer throws(WireEncodingError) in\n"
                     f"                {sub.cfunc}__init(pointer)\n"
                     f"                try value.fill(&pointer.pointee, arena)\n            }}")
        return (f"        c.{f.n} = {p}.count\n"
                f"        {c} = try arena.entries({p}, sortedBy: {order}, as: {entry.ctype}.self, field: {swift_string(field)}) {{ entry, pointer throws(WireEncodingError) in\n"
                f"            {entry.cfunc}__init(pointer)\n"
                f"            pointer.pointee.key = {model.write_value(k, 'entry.key', 'key', '            ')}\n"
                f"            pointer.pointee.value = {value}\n"
                f"        }}\n")
    if f.repeated:
        n = f"c.{f.n}"
        if f.type == STRING:
            return f"        {n} = {p}.count\n        {c} = try arena.strings({p}, field: {swift_string(field)})\n"
        if f.type == BYTES:
            return f"        {n} = {p}.count\n        {c} = arena.binaries({p})\n"
        if f.type == MESSAGE:
            sub = model.message(f)
            return (f"        {n} = {p}.count\n"
                    f"        {c} = try arena.messages({p}, as: {sub.ctype}.self, field: {swift_string(field)}) {{ value, pointer throws(WireEncodingError) in\n"
                    f"            {sub.cfunc}__init(pointer)\n"
                    f"            try value.fill(&pointer.pointee, arena)\n        }}\n")
        if f.type == ENUM:
            return f"        {n} = {p}.count\n        {c} = arena.scalars({p}.map {{ {model.write_value(f, '$0', field, '')} }})\n"
        conv = SCALARS[f.type][3].format(s="$0")
        mapped = p if conv == "$0" else f"{p}.map {{ {conv} }}"
        return f"        {n} = {p}.count\n        {c} = arena.scalars({mapped})\n"
    if f.type == MESSAGE:
        return f"        if let value = {p} {{\n            {c} = {model.write_value(f, 'value', field, '            ')}\n        }}\n"
    return f"        {c} = {model.write_value(f, p, field, '        ')}\n"

def read_field(f, model):
    p, c = "self." + f.prop, "c." + f.c
    if model.is_map(f):
        entry, k, v = model.map_kv(f)
        value = model.read_value(v, "$0.value")
        if v.type == MESSAGE:
            value = f"$0.value.map {{ {model.message(v).swift}(c: $0.pointee) }} ?? {model.message(v).swift}()"
        return (f"        {p} = Dictionary(WireArena.readMessages({c}, c.{f.n}) {{ ({model.read_value(k, '$0.key')}, {value}) }},\n"
                f"                         uniquingKeysWith: {{ _, last in last }})\n")
    if f.repeated:
        n = f"c.{f.n}"
        if f.type == STRING:
            return f"        {p} = WireArena.readStrings({c}, {n})\n"
        if f.type == BYTES:
            return f"        {p} = WireArena.readBinaries({c}, {n})\n"
        if f.type == MESSAGE:
            return f"        {p} = WireArena.readMessages({c}, {n}) {{ {model.message(f).swift}(c: $0) }}\n"
        conv = model.read_value(f, "$0")
        tail = "" if conv == "$0" else f".map {{ {conv} }}"
        return f"        {p} = WireArena.readScalars({c}, {n}){tail}\n"
    if f.type == MESSAGE:
        return f"        {p} = {c}.map {{ {model.message(f).swift}(c: $0.pointee) }}\n"
    return f"        {p} = {model.read_value(f, c)}\n"

def fill_oneof(one, model):
    o = [f"        switch self.{one.prop} {{\n"]
    for f in one.members:
        o.append(f"        case .{f.key}(let value)?:\n")
        o.append(f"            c.{one.ccase} = .init(rawValue: {f.number})\n")
        o.append(f"            c.{f.c} = {model.write_value(f, 'value', f.name, '            ')}\n")
    o.append("        case nil:\n            break\n        }\n")
    return "".join(o)

def read_oneof(one, model):
    o = [f"        switch c.{one.ccase}.rawValue {{\n"]
    for f in one.members:
        value = model.read_value(f, "c." + f.c)
        if f.type == MESSAGE:
            value = f"c.{f.c}.map {{ {model.message(f).swift}(c: $0.pointee) }} ?? {model.message(f).swift}()"
        o.append(f"        case {f.number}: self.{one.prop} = .{f.key}({value})\n")
    o.append(f"        default: self.{one.prop} = nil\n        }}\n")
    return "".join(o)

# MARK: - JSON

MAP_KEY_STRING = STRING

def gen_codable(m, model):
    o = [f"extension {m.swift}: Codable {{\n"]
    every = m.fields + [f for one in m.oneofs for f in one.members]
    if every:
        o.append("    enum CodingKeys: String, CodingKey {\n")
        for f in every:
            o.append(f"        case {f.key} = \"{f.name}\"\n")
        o.append("    }\n\n")
    o.append("    package init(from decoder: any Decoder) throws {\n")
    o.append("        self.init()\n")
    if every:
        o.append("        let container = try decoder.container(keyedBy: CodingKeys.self)\n")
        for f in m.fields:
            if model.is_map(f):
                _, k, v = model.map_kv(f)
                if k.type == MAP_KEY_STRING:
                    o.append(f"        if let v = try container.decodeIfPresent({model.swift_type(f)}.self, forKey: .{f.key}) {{ self.{f.prop} = v }}\n")
                else:
                    o.append(f"        if let v = try container.decodeIfPresent([String: {model.element_type(v)}].self, forKey: .{f.key}) {{\n"
                             f"            self.{f.prop} = try WireJSON.mapFromJSON(v, codingPath: container.codingPath + [CodingKeys.{f.key}])\n        }}\n")
                continue
            bare = model.swift_type(f).rstrip("?")
            o.append(f"        if let v = try container.decodeIfPresent({bare}.self, forKey: .{f.key}) {{ self.{f.prop} = v }}\n")
        for one in m.oneofs:
            names = ", ".join(f.name for f in one.members)
            o.append(f"        var {camel(one.name)}Present: [String] = []\n")
            for f in one.members:
                o.append(f"        if let v = try container.decodeIfPresent({model.element_type(f)}.self, forKey: .{f.key}) {{\n"
                         f"            self.{one.prop} = .{f.key}(v)\n"
                         f"            {camel(one.name)}Present.append(\"{f.name}\")\n        }}\n")
            o.append(f"        if {camel(one.name)}Present.count > 1 {{\n"
                     f"            throw DecodingError.dataCorrupted(DecodingError.Context(\n"
                     f"                codingPath: container.codingPath,\n"
                     f"                debugDescription: \"at most one of {names} may be set (oneof {one.name}); found \\({camel(one.name)}Present.joined(separator: \", \"))\"))\n"
                     f"        }}\n")
    o.append("    }\n\n")
    o.append("    package func encode(to encoder: any Encoder) throws {\n")
    if every:
        o.append("        var container = encoder.container(keyedBy: CodingKeys.self)\n")
        for f in m.fields:
            if model.is_map(f) and model.map_kv(f)[1].type != MAP_KEY_STRING:
                o.append(f"        try container.encode(WireJSON.mapToJSON(self.{f.prop}), forKey: .{f.key})\n")
            elif f.type == MESSAGE and not f.repeated:
                o.append(f"        try container.encodeIfPresent(self.{f.prop}, forKey: .{f.key})\n")
            else:
                o.append(f"        try container.encode(self.{f.prop}, forKey: .{f.key})\n")
        for one in m.oneofs:
            o.append(f"        switch self.{one.prop} {{\n")
            for f in one.members:
                o.append(f"        case .{f.key}(let value)?: try container.encode(value, forKey: .{f.key})\n")
            o.append("        case nil: break\n        }\n")
    o.append("    }\n}\n")
    return "".join(o)

# MARK: - Services

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

def method_ident(m):
    return ident(lower_first(m["name"]))

def gen_service(s):
    name, pkg = s["name"], s["package"]
    o = [f"\n// MARK: - Service {name}\n\n"]
    o.append("extension PB {\n" + swift_doc(s["doc"], "    "))
    o.append(f"    package enum {name}Service {{\n")
    for m in s["methods"]:
        o.append(swift_doc(m["doc"], "        "))
        o.append(f"        package static let {method_ident(m)} = RPCMethod<{m['input']}, {m['output']}>(\n"
                 f"            path: \"/{pkg}.{name}/{m['name']}\", idempotent: {'true' if m['idempotent'] else 'false'})\n")
    o.append("    }\n}\n\n")
    o.append(swift_doc(s["doc"], ""))
    o.append(f"/// What a server of `{name}` implements: one method per RPC, every one of them (there are no defaults,\n"
             f"/// so a missing or misspelled method does not compile).\n")
    o.append(f"package protocol {name}Handler: Sendable {{\n")
    for m in s["methods"]:
        o.append(swift_doc(m["doc"], "    "))
        o.append(f"    func {method_ident(m)}(_ request: {m['input']}, context: RPCContext) async throws -> {m['output']}\n")
    o.append("}\n\n")
    o.append(f"extension {name}Handler {{\n")
    o.append(f"    /// The server's dispatch table for `{name}`.\n")
    o.append("    package var routes: [RPCRoute] {\n        [\n")
    for m in s["methods"]:
        o.append(f"            RPCRoute(PB.{name}Service.{method_ident(m)}) {{ request, context in try await self.{method_ident(m)}(request, context: context) }},\n")
    o.append("        ]\n    }\n}\n\n")
    o.append(f"/// A typed client of `{name}` over one shared connection.\n")
    o.append(f"package struct {name}Client: Sendable {{\n    package let connection: RPCConnection\n\n")
    o.append("    package init(connection: RPCConnection) { self.connection = connection }\n\n")
    for m in s["methods"]:
        o.append(swift_doc(m["doc"], "    "))
        o.append(f"    package func {method_ident(m)}(_ request: {m['input']}, options: CallOptions = CallOptions()) async throws(RPCError) -> {m['output']} {{\n"
                 f"        try await connection.call(PB.{name}Service.{method_ident(m)}, request, options: options)\n    }}\n\n")
    o.append("}\n")
    return "".join(o)

def gen_partial_handlers(services):
    o = ["// Generated by scripts/gen-proto from proto/*.proto. Do not edit.\n",
         "import Wire\n"]
    for s in services:
        name = s["name"]
        o.append(f"\n// MARK: - {name}\n\n")
        o.append(f"/// For tests only: a `{name}Handler` whose methods answer UNIMPLEMENTED unless the conformer\n"
                 f"/// implements them. Production handlers conform to `{name}Handler`, which has no defaults.\n")
        o.append(f"package protocol Partial{name}Handler: {name}Handler {{}}\n\n")
        o.append(f"extension Partial{name}Handler {{\n")
        for m in s["methods"]:
            o.append(f"    package func {method_ident(m)}(_ request: {m['input']}, context: RPCContext) async throws -> {m['output']} {{\n"
                     f"        throw RPCError(.unimplemented, \"{name}.{m['name']} is not implemented\")\n    }}\n\n")
        o[-1] = o[-1][:-1]
        o.append("}\n")
    return "".join(o)

if __name__ == "__main__":
    main()
