// The package's schema reader, encoder and decoder (pkg/lib), without a
// collector: the engine's corpora (tests/corpus, which src/engine checks
// against the Rust code) give the same errors and the same bytes; avsc, an
// independent Avro implementation, writes the same bytes for thousands of
// generated rows; the compiled fast path writes what the general path
// writes; a bad value is refused with the message the Rust client gives;
// and what the subscription decoder reads back is what was written.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { compile } from "../../../pkg/lib/compile.js";
import { decodeRows } from "../../../pkg/lib/decode.js";
import { Bad, Out, pathText, value } from "../../../pkg/lib/encode.js";
import { shape } from "../../../pkg/lib/live.js";
import { parseSchema } from "../../../pkg/lib/schema.js";

const avro = createRequire(import.meta.url)("avsc");
const corpus = (name) => JSON.parse(readFileSync(new URL(`../../corpus/js/${name}`, import.meta.url), "utf8"));
const hex = (bytes) => Buffer.from(bytes).toString("hex");

/** The general path's bytes of `row`, or its error as the Rust client prints it. */
function general(root, row) {
    const o = new Out(16);
    try {
        value(root, o, row);
    } catch (e) {
        if (!(e instanceof Bad)) throw e;
        const field = pathText(e.path);
        return field ? `field "${field}": ${e.message}` : `row: ${e.message}`;
    }
    return hex(o.b.subarray(0, o.n));
}

/** The compiled path's bytes of `row`, or null when it leaves the row to the general path. */
function compiled(root, row) {
    const o = new Out(16);
    return compile(root)(row, o) ? hex(o.b.subarray(0, o.n)) : null;
}

test("schemas: the engine's corpus gives the same errors and wire forms", () => {
    const cases = corpus("schemas.json");
    assert.ok(cases.length > 60);
    let valid = 0;
    for (const { schema, error, wire } of cases) {
        let got = "";
        try {
            got = parseSchema(schema).wire;
            assert.equal(got, wire, schema.slice(0, 200));
            valid++;
            got = "";
        } catch (e) {
            if (e instanceof assert.AssertionError) throw e;
            got = e.path ? `field "${e.path}": ${e.message}` : `schema: ${e.message}`;
        }
        assert.equal(got, error, schema.slice(0, 200));
    }
    assert.ok(valid >= 6, `${valid} valid schemas`);
    for (const { schema, wire } of corpus("rows.json")) assert.equal(parseSchema(JSON.stringify(schema)).wire, wire);
});

test("schemas: a lone surrogate in a default (JS text may hold one) is written as the U+FFFD its bytes hold", () => {
    const root = parseSchema(`{"type":"record","name":"r","fields":[{"name":"a","type":"string","default":"x\ud800y"}]}`);
    assert.equal(root.wire, '{"name":"r","type":"record","fields":[{"name":"a","type":"string","default":"x\ufffdy"}]}');
    assert.equal(parseSchema(root.wire).wire, root.wire);
});

test("rows: the engine's corpus gives the same bytes, on both paths", () => {
    let rows = 0;
    for (const { schema, rows: cases } of corpus("rows.json")) {
        const root = parseSchema(JSON.stringify(schema));
        for (const { value: row, avro: bytes } of cases) {
            assert.equal(general(root, row), bytes, JSON.stringify(row));
            const fast = compiled(root, row);
            if (fast !== null) assert.equal(fast, bytes, `compiled: ${JSON.stringify(row)}`);
            rows++;
        }
    }
    assert.ok(rows > 10);
});

/** A small deterministic random source, so that a failure can be replayed. */
function random(seed) {
    let s = seed >>> 0;
    const next = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
    const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
    const pick = (list) => list[int(0, list.length - 1)];
    const text = () => Array.from({ length: int(0, 60) }, () => pick(["a", "Z", "0", " ", "é", "✓", "😀", "\u0000", "\u07ff", "-"])).join("");
    return { next, int, pick, text };
}

const GENERATED = {
    type: "record", name: "generated", namespace: "t",
    fields: [
        { name: "s", type: "string" }, { name: "l", type: "long" }, { name: "i", type: "int" }, { name: "d", type: "double" },
        { name: "f", type: "float" }, { name: "b", type: "boolean" }, { name: "ns", type: ["null", "string"] },
        { name: "nl", type: ["null", "long"] }, { name: "e", type: { type: "enum", name: "E", symbols: ["A", "B", "C"] } },
        { name: "a", type: { type: "array", items: "long" } }, { name: "m", type: { type: "map", values: "string" } },
        { name: "r", type: { type: "record", name: "R", fields: [{ name: "x", type: "double" }, { name: "y", type: "bytes" }] } },
        { name: "fx", type: { type: "fixed", name: "F4", size: 4 } },
    ],
};

function generated(r) {
    // Within 2^52: beyond, avsc's zigzag of a negative long goes through a
    // double and comes out 1 off (-(2^53 - 2) is written as -(2^53 - 2.5));
    // the engine's corpus has the extremes.
    const long = () => r.pick([0, -1, 1, 63, -64, 2 ** 30, -(2 ** 30) - 1, 2 ** 31, 2 ** 52, -(2 ** 52), r.int(-1e12, 1e12)]);
    return {
        s: r.text(), l: long(), i: r.pick([0, -1, 2 ** 31 - 1, -(2 ** 31), r.int(-1e9, 1e9)]),
        d: r.pick([0, -0.5, 1e300, 5e-324, r.next() * 1e6 - 5e5]), f: r.pick([0, 1.5, -3.25, Math.fround(r.next())]),
        b: r.next() < 0.5, ns: r.next() < 0.5 ? null : r.text(), nl: r.next() < 0.5 ? null : long(), e: r.pick(["A", "B", "C"]),
        a: Array.from({ length: r.int(0, 4) }, long), m: Object.fromEntries(Array.from({ length: r.int(0, 3) }, (_, k) => [`k${k}${r.text()}`, r.text()])),
        r: { x: r.next(), y: Uint8Array.from({ length: r.int(0, 9) }, () => r.int(0, 255)) },
        fx: Uint8Array.from({ length: 4 }, () => r.int(0, 255)),
    };
}

test("rows: avsc writes the same bytes for 3000 generated rows, and so does the compiled path", () => {
    const root = parseSchema(JSON.stringify(GENERATED));
    const type = avro.Type.forSchema(GENERATED, { wrapUnions: false });
    const r = random(7);
    for (let n = 0; n < 3000; n++) {
        const row = generated(r);
        const bytes = general(root, row);
        const theirs = type.toBuffer({ ...row, r: { ...row.r, y: Buffer.from(row.r.y) }, fx: Buffer.from(row.fx) }).toString("hex");
        assert.equal(bytes, theirs, `row ${n}: ${JSON.stringify(row)}`);
        const fast = compiled(root, row);
        assert.ok(fast === null || fast === bytes, `compiled row ${n}`);
    }
});

test("rows: the compiled path takes the common rows, and leaves the others to the general path with the same result", () => {
    const root = parseSchema(JSON.stringify({
        type: "record", name: "flat",
        fields: [
            { name: "s", type: "string" }, { name: "l", type: "long" }, { name: "i", type: "int" }, { name: "d", type: "double" },
            { name: "f", type: "float" }, { name: "b", type: "boolean" }, { name: "nd", type: ["null", "double"] },
            { name: "ns", type: ["string", "null"], default: "x" },
        ],
    }));
    const base = { s: "s", l: 1, i: 2, d: 3.5, f: 0.5, b: true, nd: null, ns: null };
    assert.notEqual(compiled(root, base), null, "a plain row is compiled");
    const odd = [
        { l: 2 ** 40 }, { l: -(2 ** 53) + 1 }, { l: 2 ** 53 }, { l: 2n ** 62n }, { l: -0 }, { l: 1.5 }, { l: "1" }, { i: 2 ** 31 },
        { i: -0 }, { d: 7n }, { d: NaN }, { f: 1e40 }, { b: 1 }, { nd: -0 }, { nd: 2 }, { nd: 2.5 }, { nd: undefined }, { ns: undefined },
        { ns: "given" }, { s: "é✓😀".repeat(30) }, { s: undefined }, { extra: 1 },
    ];
    for (const change of odd) {
        const row = { ...base, ...change };
        const fast = compiled(root, row);
        assert.ok(fast === null || fast === general(root, row), `${JSON.stringify(change, (k, v) => (typeof v === "bigint" ? `${v}n` : v))}`);
    }
    assert.equal(compiled(root, { ...base, nd: -0 }), general(root, { ...base, nd: 0 }), "-0 in a union is written as 0, as the engine does");
});

test("rows: bad values are refused with the Rust client's messages", () => {
    const root = parseSchema(JSON.stringify({
        type: "record", name: "checked", namespace: "n",
        fields: [
            { name: "l", type: "long", default: 0 }, { name: "i", type: "int", default: 0 }, { name: "s", type: "string", default: "" },
            { name: "u", type: { type: "string", logicalType: "uuid" }, default: "00000000-0000-0000-0000-000000000000" },
            { name: "e", type: { type: "enum", name: "E", symbols: ["A"] }, default: "A" },
            { name: "o", type: ["null", "string"], default: null }, { name: "x", type: ["null", "int"], default: null },
            { name: "fx", type: { type: "fixed", name: "F2", size: 2 }, default: "ab" },
            { name: "by", type: "bytes", default: "" }, { name: "a", type: { type: "array", items: "int" }, default: [] },
            { name: "m", type: { type: "map", values: "boolean" }, default: {} },
            { name: "r", type: ["null", { type: "record", name: "In", fields: [{ name: "z", type: "int" }] }], default: null },
            { name: "req", type: "double" },
        ],
    }));
    const cases = [
        [{ l: "1" }, 'field "l": expected long, found a string'],
        [{ l: 1.5 }, 'field "l": expected long, found a number that is not whole'],
        [{ l: 1e21 }, 'field "l": 1000000000000000000000 is out of range for long'],
        [{ l: NaN }, 'field "l": NaN is out of range for long'],
        [{ l: 2n ** 64n }, 'field "l": a BigInt outside the 64-bit range'],
        [{ l: 2n ** 63n }, 'field "l": 9223372036854775808 is out of range for long'],
        [{ l: true }, 'field "l": expected long, found a boolean'],
        [{ l: null }, 'field "l": expected long, found null'],
        [{ i: 2 ** 31 }, 'field "i": 2147483648 is out of range for int'],
        [{ i: 2 ** 60 }, 'field "i": 1152921504606846976 is out of range for int'],
        [{ s: 5 }, 'field "s": expected string, found a number'],
        [{ s: {} }, 'field "s": expected string, found an object'],
        [{ u: "not-a-uuid" }, 'field "u": not a UUID (expected 8-4-4-4-12 hexadecimal digits)'],
        [{ e: "B" }, 'field "e": "B" is not a symbol of enum "n.E"'],
        [{ o: 5 }, 'field "o": no branch of the union [null, string] takes an i64'],
        [{ o: 5.5 }, 'field "o": no branch of the union [null, string] takes an f64'],
        [{ o: true }, 'field "o": no branch of the union [null, string] takes a boolean'],
        [{ o: [] }, 'field "o": no branch of the union [null, string] takes a sequence'],
        [{ o: {} }, 'field "o": no branch of the union [null, string] takes a map'],
        [{ x: 2 ** 32 }, 'field "x": no branch of the union [null, int] takes an i64'],
        [{ fx: new Uint8Array(3) }, 'field "fx": expected exactly 2 bytes, found 3'],
        [{ by: "text" }, 'field "by": expected bytes, found a string'],
        [{ by: [1, 2] }, 'field "by[0]": expected bytes, found a number'],
        [{ a: [1, "2"] }, 'field "a[1]": expected int, found a string'],
        [{ m: { yes: true, no: "false" } }, 'field "m[1]": expected boolean, found a string'],
        [{ r: { z: "1" } }, 'field "r.z": expected int, found a string'],
        [{ r: {} }, 'field "r.z": missing, and the schema gives no default'],
        [{ req: undefined }, 'field "req": missing, and the schema gives no default'],
        [{ req: undefined, l: "bad" }, 'field "l": expected long, found a string'],
        [{ req: () => 1 }, 'field "req": expected double, found a function'],
    ];
    for (const [row, message] of cases) {
        assert.equal(general(root, { req: 1, ...row }), message, JSON.stringify(row, (k, v) => (typeof v === "bigint" ? `${v}n` : v)));
    }
    assert.equal(general(root, "row"), "row: expected n.checked, found a string");
    assert.equal(general(root, [1]), "row: expected n.checked, found an array");
});

test("rows: values a review found mishandled are written as the engine writes them", () => {
    const root = parseSchema(JSON.stringify({
        type: "record", name: "edges",
        fields: [
            { name: "i", type: "int" }, { name: "ni", type: ["null", "int"] }, { name: "f", type: "float" },
            { name: "a", type: { type: "array", items: ["null", "int"] } }, { name: "s", type: ["null", "string"] },
        ],
    }));
    const base = { i: 1, ni: null, f: 0, a: [], s: null };
    // A BigInt in an int field: the compiled path leaves it to the general one, which writes it.
    assert.equal(general(root, { ...base, i: 5n, ni: 5n }), "0a020a000000000000");
    assert.ok([null, "0a020a000000000000"].includes(compiled(root, { ...base, i: 5n, ni: 5n })));
    assert.equal(general(root, { ...base, i: Symbol("x") }), 'field "i": expected int, found a symbol');
    assert.equal(compiled(root, { ...base, i: Symbol("x") }), null);
    // A BigInt into a float is rounded once (2^60 + 2^36 + 1 is just above halfway between two floats).
    assert.equal(general(root, { ...base, f: 2n ** 60n + 2n ** 36n + 1n }).slice(4, 12), "0100805d");
    // The holes of a sparse array are items (undefined: null here), not skipped.
    assert.equal(general(root, { ...base, a: [1, , 3] }), "02000000000006020200020600" + "00");
    assert.equal(general(parseSchema(JSON.stringify({ type: "record", name: "r", fields: [{ name: "a", type: { type: "array", items: "int" } }] })), { a: [1, , 3] }),
        'field "a[1]": expected int, found undefined');
    // A byte-order mark is data.
    assert.equal(general(root, { ...base, s: new Uint8Array([0xef, 0xbb, 0xbf, 0x41]) }).slice(-12), "0208efbbbf41");
    // An array is not a row, on either path.
    const row = Object.assign([], base);
    assert.equal(general(root, row), "row: expected edges, found an array");
    assert.equal(compiled(root, row), null);
});

test("the subscription's decoder reads back what was written, longs beyond 2^53 as BigInt", () => {
    const schema = { ...GENERATED, fields: [...GENERATED.fields, { name: "big", type: "long" }, { name: "u", type: ["null", "int", "string"] }] };
    const root = parseSchema(JSON.stringify(schema));
    const r = random(11);
    const rows = Array.from({ length: 200 }, (_, n) => ({ ...generated(r), big: r.pick([2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n, 5]), u: r.pick([null, 7, "x"]) }));
    const o = new Out();
    rows.forEach((row) => value(root, o, row));
    const decoded = decodeRows(shape(JSON.stringify(schema)), o.b.subarray(0, o.n), rows.length);
    const plain = (v) => JSON.stringify(v, (k, x) => (typeof x === "bigint" ? `${x}n` : x instanceof Uint8Array ? [...x] : x));
    assert.equal(plain(decoded), plain(rows.map((row) => ({ ...row, big: typeof row.big === "bigint" && row.big > -(2n ** 53n) && row.big < 2n ** 53n ? Number(row.big) : row.big }))));
    assert.throws(() => decodeRows(shape(JSON.stringify(schema)), o.b.subarray(0, o.n - 1), rows.length), /invalid Avro data at byte/);
    assert.throws(() => decodeRows(shape(JSON.stringify(schema)), new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 1), /variable-length integer/);
});
