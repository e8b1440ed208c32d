import Basics
import Foundation
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    @Test("integers stay exact through parse and serialize, Int64's ends and Kommo ids past 2^53 included")
    func integersAreExact() throws {
        for digits in ["12345678901234", "12345678901234567", "9007199254740993", "9223372036854775807", "-9223372036854775808", "0"] {
            let value = try #require(JSONValue(parsing: "{\"id\":\(digits)}"))
            #expect(value["id"] == .int(Int64(digits)!), "\(digits)")
            #expect(value.text() == "{\"id\":\(digits)}")
        }
        #expect(JSONValue(parsing: "9223372036854775807")?.int64 == Int64.max)
        #expect(JSONValue.int(.max).text() == "9223372036854775807")
    }

    @Test("numbers that are not whole Int64 values are doubles; an integer and a double are not equal")
    func doublesStayDoubles() throws {
        #expect(JSONValue(parsing: "1.5") == .double(1.5))
        #expect(JSONValue(parsing: "9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(JSONValue(parsing: "1e300") == .double(1e300))
        // A whole value is an integer however it is spelled.
        #expect(JSONValue(parsing: "3.0") == .int(3))
        #expect(JSONValue.int(3) != .double(3))
        #expect(JSONValue.double(0.1).text() == "0.1")
    }

    @Test("serializing sorts keys at every depth and leaves slashes alone, so equal values give equal bytes")
    func stableKeyOrder() throws {
        let value: JSONValue = ["b": 1, "a": ["z": true, "y": nil], "c": "https://x/y"]
        #expect(value.text() == #"{"a":{"y":null,"z":true},"b":1,"c":"https://x/y"}"#)
        let reparsed = try #require(JSONValue(parsing: value.text()))
        #expect(reparsed == value)
        #expect(reparsed.data() == value.data())
    }

    @Test("a non-finite double is written as null rather than failing the whole document")
    func nonFinite() {
        #expect(JSONValue.array([.double(.nan), 1]).text() == "[null,1]")
    }

    @Test("empty or malformed text does not parse")
    func malformed() {
        #expect(JSONValue(parsing: "") == nil)
        #expect(JSONValue(parsing: "{\"a\":") == nil)
        #expect(throws: (any Error).self) { try JSONValue(decoding: Array("nope".utf8)) }
    }

    @Test("readers: members, elements, paths, lenient strings and integers as Kommo sends them")
    func readers() throws {
        let value = try #require(JSONValue(parsing: #"{"lead":{"id":"4410021","price":3100.0,"tags":[{"name":"hot"}],"gone":null},"flag":true}"#))
        #expect(value["lead"]?["id"]?.int64 == 4_410_021)
        #expect(value["lead"]?["price"]?.int64 == 3100)
        #expect(value["lead"]?["price"]?.string == "3100")
        #expect(value["lead"]?["tags"]?[0]?["name"]?.string == "hot")
        #expect(value["lead"]?["tags"]?[1] == nil)
        #expect(value.value(at: ["lead", "tags"])?.array?.count == 1)
        #expect(value.value(at: ["lead", "gone"]) == nil)
        #expect(value.value(at: ["lead", "missing", "deeper"]) == nil)
        #expect(value["flag"]?.bool == true)
        #expect(value["flag"]?.string == "true")
        #expect(value["lead"]?.object?.keys.sorted() == ["gone", "id", "price", "tags"])
        #expect(value.array == nil)
        #expect(JSONValue.double(1.5).int64 == nil)
        #expect(JSONValue.int(.max).double == 9.223372036854775807e18)
        #expect(JSONValue.string("x").isNumber == false && JSONValue.int(1).isNumber && JSONValue.double(1.5).isNumber)
    }

    @Test("merge patch (RFC 7396): members merge, null removes, anything else replaces; integers survive")
    func mergePatch() {
        let target: JSONValue = ["name": "Follow-up", "trigger": ["pipeline_id": .int(12_345_678_901_234_567), "stage_id": 1], "tags": ["a"]]
        let patch: JSONValue = ["trigger": ["stage_id": nil, "type": "stage_changed"], "tags": ["b"], "status": "active"]
        #expect(target.merging(patch: patch) == [
            "name": "Follow-up", "trigger": ["pipeline_id": .int(12_345_678_901_234_567), "type": "stage_changed"],
            "tags": ["b"], "status": "active",
        ])
        // RFC 7396 appendix A: a patch that is not an object replaces the target.
        #expect(target.merging(patch: ["x"]) == ["x"])
        #expect(JSONValue.string("old").merging(patch: ["a": 1]) == ["a": 1])
    }

    @Test("any encodable value becomes the tree of its JSON encoding")
    func fromEncodable() throws {
        struct Lead: Encodable { var id: Int64; var name: String }
        #expect(try JSONValue(encoding: Lead(id: 12_345_678_901_234_567, name: "Ann")) == ["id": .int(12_345_678_901_234_567), "name": "Ann"])
    }
}
