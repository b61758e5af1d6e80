// A JSON reader for schemas, the engine's own (src/engine/json.rs) in JS:
// `JSON.parse` would take duplicate keys (the collector refuses them, and
// the rows would be dropped there), round integers beyond 2^53 (a `long`
// default must be exact) and reorder integer-like keys (a map default's
// bytes follow the text). Integers that fit 64 bits come back as BigInt,
// other numbers as numbers, objects as Maps in text order; errors give the
// byte offset and say what was expected, as the Rust parser does.

import { kind } from "./errors.js";

const MAX_DEPTH = 128;
const utf8 = new TextEncoder();
const text = new TextDecoder();

/** Reads a whole JSON document; throws `invalid JSON at byte N: ...`. */
export function parseJson(source) {
    const b = utf8.encode(source);
    let at = 0;
    const fail = (message) => {
        throw new SyntaxError(`invalid JSON at byte ${at}: ${message}`);
    };
    const space = () => {
        while (b[at] === 32 || b[at] === 9 || b[at] === 10 || b[at] === 13) at++;
    };
    const literal = (word, value) => {
        for (let i = 0; i < word.length; i++) if (b[at + i] !== word.charCodeAt(i)) fail("unknown literal");
        at += word.length;
        return value;
    };
    const hex4 = () => {
        if (at + 4 > b.length) fail("truncated \\u escape");
        let code = 0;
        for (let i = 0; i < 4; i++) {
            const digit = parseInt(String.fromCharCode(b[at + i]), 16);
            if (Number.isNaN(digit)) fail("bad \\u escape");
            code = code * 16 + digit;
        }
        at += 4;
        return code;
    };
    const string = () => {
        at++;
        let out = "";
        for (;;) {
            const start = at;
            while (at < b.length && b[at] !== 34 && b[at] !== 92 && b[at] >= 32) at++;
            out += text.decode(b.subarray(start, at));
            if (at >= b.length) fail("unterminated string");
            const c = b[at];
            if (c === 34) {
                at++;
                return out;
            }
            if (c !== 92) fail("control character in string");
            at++;
            if (at >= b.length) fail("truncated escape");
            const escape = String.fromCharCode(b[at++]);
            const simple = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" }[escape];
            if (simple !== undefined) {
                out += simple;
            } else if (escape === "u") {
                let code = hex4();
                if (code >= 0xd800 && code < 0xdc00) {
                    if (b[at] !== 92 || b[at + 1] !== 117) fail("lone surrogate in \\u escape");
                    at += 2;
                    const low = hex4();
                    if (low < 0xdc00 || low >= 0xe000) fail("lone surrogate in \\u escape");
                    code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                } else if (code >= 0xdc00 && code < 0xe000) {
                    fail("lone surrogate in \\u escape");
                }
                out += String.fromCodePoint(code);
            } else {
                fail("unknown escape");
            }
        }
    };
    const number = () => {
        const start = at;
        if (b[at] === 45) at++;
        let integral = true;
        for (; at < b.length; at++) {
            const c = b[at];
            if (c === 46 || c === 101 || c === 69 || c === 43 || c === 45) integral = false;
            else if (c < 48 || c > 57) break;
        }
        const token = text.decode(b.subarray(start, at));
        if (integral && /^-?\d+$/.test(token)) {
            const n = BigInt(token);
            if (n >= -(2n ** 63n) && n < 2n ** 63n) return n;
        }
        // Rust's f64 grammar, which Number() follows for these characters.
        const x = Number(token);
        if (Number.isNaN(x)) {
            at = start;
            fail("invalid number");
        }
        return x;
    };
    const value = (depth) => {
        if (depth > MAX_DEPTH) fail("nested too deeply");
        space();
        const c = b[at];
        if (c === undefined) fail("unexpected end of input");
        if (c === 110) return literal("null", null);
        if (c === 116) return literal("true", true);
        if (c === 102) return literal("false", false);
        if (c === 34) return string();
        if (c === 45 || (c >= 48 && c <= 57)) return number();
        if (c === 91) {
            at++;
            const items = [];
            space();
            if (b[at] === 93) {
                at++;
                return items;
            }
            for (;;) {
                items.push(value(depth + 1));
                space();
                if (b[at] === 93) {
                    at++;
                    return items;
                }
                if (b[at] !== 44) fail("expected ',' or ']'");
                at++;
            }
        }
        if (c === 123) {
            at++;
            const members = new Map();
            space();
            if (b[at] === 125) {
                at++;
                return members;
            }
            for (;;) {
                space();
                if (b[at] !== 34) fail("expected a string key");
                const key = string();
                space();
                if (b[at] !== 58) fail("expected ':'");
                at++;
                const member = value(depth + 1);
                if (members.has(key)) fail("duplicate key in object");
                members.set(key, member);
                space();
                if (b[at] === 125) {
                    at++;
                    return members;
                }
                if (b[at] !== 44) fail("expected ',' or '}'");
                at++;
            }
        }
        return fail("unexpected character");
    };
    const result = value(0);
    space();
    if (at !== b.length) fail("trailing characters after the value");
    return result;
}

/** The kind of a JSON value, for messages: `a number`, `an object`, ... */
export const jsonKind = (v) => (typeof v === "bigint" ? "a number" : kind(v));
