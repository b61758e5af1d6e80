// A JSON reader for schemas, the engine's own (src/engine/json.rs) in JS:
// `JSON.parse` would take duplicate keys (the collector refuses them, and
// the rows would be dropped there), round integers beyond 2^53 (a `long`
// default must be exact) and reorder integer-like keys (a map default's
// bytes follow the text). Integers that fit 64 bits come back as BigInt,
// other numbers as numbers, objects as Maps in text order; errors give the
// UTF-8 byte offset and say what was expected, as the Rust parser does.
import { kind } from "./errors.js";

const MAX_DEPTH = 128;
const LITERALS = { n: ["null", null], t: ["true", true], f: ["false", false] };
const ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** Reads a whole JSON document; throws `invalid JSON at byte N: ...`. */
export function parseJson(source) {
    let at = 0;
    const fail = (message) => {
        throw new SyntaxError(`invalid JSON at byte ${new TextEncoder().encode(source.slice(0, at)).length}: ${message}`);
    };
    const code = () => source.charCodeAt(at);
    const space = () => {
        for (let c = code(); c === 32 || c === 9 || c === 10 || c === 13; c = code()) at++;
    };
    const expect = (c, message) => {
        space();
        if (source[at] !== c) fail(message);
        at++;
    };
    const hex4 = () => {
        if (at + 4 > source.length) fail("truncated \\u escape");
        const digits = source.slice(at, at + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(digits)) fail("bad \\u escape");
        at += 4;
        return parseInt(digits, 16);
    };
    const string = () => {
        let out = "";
        for (at++; ; ) {
            const start = at;
            for (let c = code(); c !== 34 && c !== 92 && c >= 32; c = code()) at++;
            out += source.slice(start, at);
            if (at >= source.length) fail("unterminated string");
            if (code() === 34) {
                at++;
                return out;
            }
            if (code() !== 92) fail("control character in string");
            if (++at >= source.length) fail("truncated escape");
            const escape = source[at++];
            if (escape !== "u") {
                out += ESCAPES[escape] ?? fail("unknown escape");
                continue;
            }
            let c = hex4();
            if (c >= 0xd800 && c < 0xe000) {
                if (c >= 0xdc00 || !source.startsWith("\\u", at)) fail("lone surrogate in \\u escape");
                at += 2;
                const low = hex4();
                if (low < 0xdc00 || low >= 0xe000) fail("lone surrogate in \\u escape");
                c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
            }
            out += String.fromCodePoint(c);
        }
    };
    const number = () => {
        const start = at;
        const token = /-?[\d.eE+-]*/y;
        token.lastIndex = at;
        const text = token.exec(source)[0];
        at += text.length;
        if (/^-?\d+$/.test(text)) {
            const n = BigInt(text);
            if (n >= -(2n ** 63n) && n < 2n ** 63n) return n;
        }
        // Rust's f64 grammar, which Number() follows for these characters.
        const x = Number(text);
        if (!isFinite(x)) {
            at = start;
            // JSON has no infinities, and the collector's reader refuses them.
            fail(x === x ? "number out of range" : "invalid number");
        }
        return x;
    };
    const items = (depth, close, item) => {
        at++;
        space();
        if (source[at] === close) return at++;
        for (;;) {
            item(depth + 1);
            space();
            if (source[at] === close) return at++;
            if (source[at] !== ",") fail(`expected ',' or '${close}'`);
            at++;
        }
    };
    const value = (depth) => {
        if (depth > MAX_DEPTH) fail("nested too deeply");
        space();
        const c = source[at];
        if (c === undefined) fail("unexpected end of input");
        if (c === '"') return string();
        const literal = LITERALS[c];
        if (literal !== undefined) return source.startsWith(literal[0], at) ? ((at += literal[0].length), literal[1]) : fail("unknown literal");
        if (c === "-" || (c >= "0" && c <= "9")) return number();
        if (c === "[") {
            const list = [];
            items(depth, "]", (d) => list.push(value(d)));
            return list;
        }
        if (c === "{") {
            const members = new Map();
            items(depth, "}", (d) => {
                space();
                if (source[at] !== '"') fail("expected a string key");
                const key = string();
                expect(":", "expected ':'");
                const member = value(d);
                if (members.has(key)) fail("duplicate key in object");
                members.set(key, member);
            });
            return members;
        }
        return fail("unexpected character");
    };
    const result = value(0);
    space();
    if (at !== source.length) fail("trailing characters after the value");
    return result;
}

/** The kind of a JSON value, for messages: `a number`, `an object`, ... */
export const jsonKind = (v) => (typeof v === "bigint" ? "a number" : kind(v));
