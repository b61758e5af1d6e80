// Avro binary from JS values, along the nodes of ./schema.js. The rules are
// the engine's (src/engine/avro/ser.rs behind the old wasm row reader): which
// JS values a type takes, which union branch a value picks (integers prefer
// `long`, other numbers `double`, then the first branch that takes them),
// and the messages, so a row is refused here with the error the Rust
// client gives for the same value. tests/browser/js/encode.test.mjs checks
// the bytes against avsc and against the engine on a shared corpus.
import { kind, numberText } from "./errors.js";
import { jsonKind } from "./json.js";
import { strictUtf8 } from "./proto.js";

/** Shared with ./core.js and ./instruments.js (one TextEncoder in a bundle). */
export const utf8 = new TextEncoder();
const TWO_63 = 2 ** 63;

/** A growable byte buffer that writes Avro's primitives. */
export class Out {
    constructor(size = 1024) {
        this.n = 0;
        this.grow(size);
    }

    grow(size) {
        const b = new Uint8Array(size);
        if (this.b) b.set(this.b.subarray(0, this.n));
        this.b = b;
        this.v = new DataView(b.buffer);
    }

    /** Makes room for `k` more bytes. */
    room(k) {
        if (this.n + k > this.b.length) this.grow(Math.max(2 * this.b.length, this.n + k));
    }

    byte(x) {
        this.room(1);
        this.b[this.n++] = x;
    }

    raw(bytes) {
        this.room(bytes.length);
        this.b.set(bytes, this.n);
        this.n += bytes.length;
    }

    /** The unsigned varint of `hi * 2^32 + lo`. */
    varint(lo, hi) {
        this.room(10);
        const b = this.b;
        while (hi > 0 || lo > 127) {
            b[this.n++] = (lo & 127) | 128;
            lo = ((lo >>> 7) | (hi << 25)) >>> 0;
            hi >>>= 7;
        }
        b[this.n++] = lo;
    }

    /**
     * A zigzag long: `v` a whole number (exact up to 2^63, as JS numbers
     * beyond 2^53 are even) or a BigInt in the 64-bit range.
     */
    long(v) {
        if (typeof v === "bigint") {
            const z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
            return this.varint(Number(z & 0xffffffffn), Number(z >> 32n));
        }
        if (v >= -0x40000000 && v < 0x40000000) return this.varint(((v << 1) ^ (v >> 31)) >>> 0, 0);
        if (v >= 2 ** 53 || v < -(2 ** 53)) return this.long(BigInt(v));
        // 2|v| in 32-bit halves, less 1 for a negative v.
        const m = Math.abs(v);
        let lo = m % 2 ** 32;
        let hi = (m - lo) / 2 ** 32;
        hi = hi * 2 + (lo >= 2 ** 31 ? 1 : 0);
        lo = (lo * 2) >>> 0;
        if (v < 0) {
            if (lo === 0) hi -= 1;
            lo = (lo - 1) >>> 0;
        }
        this.varint(lo, hi);
    }

    f64(x) {
        this.room(8);
        this.v.setFloat64(this.n, x, true);
        this.n += 8;
    }

    f32(x) {
        this.room(4);
        this.v.setFloat32(this.n, x, true);
        this.n += 4;
    }

    /** A string: its UTF-8 length, then the bytes. */
    str(s) {
        const length = s.length;
        this.room(3 * length + 10);
        const b = this.b;
        const at = this.n + 1;
        let j = 0;
        if (length < 64) {
            for (; j < length; j++) {
                const c = s.charCodeAt(j);
                if (c > 127) break;
                b[at + j] = c;
            }
            // All ASCII, or short enough that its UTF-8 (3 bytes per unit at
            // most) fits a length of one byte: written in place.
            if (j === length || length < 22) {
                if (j < length) j += utf8.encodeInto(s.slice(j), b.subarray(at + j)).written;
                b[this.n] = j << 1;
                this.n = at + j;
                return;
            }
        }
        const start = this.n + 10;
        const written = utf8.encodeInto(s, b.subarray(start)).written;
        this.long(written);
        this.b.copyWithin(this.n, start, start + written);
        this.n += written;
    }
}

/** Why a value does not fit: the problem, and the path to it (outermost first). */
export class Bad {
    constructor(message) {
        this.message = message;
        this.path = [];
    }
}

const bad = (message) => new Bad(message);

/**
 * An integer (a number or a BigInt) rounded once to the nearest f32, as
 * Rust's `as f32` does: a BigInt beyond 2^53 is first cut to 53 bits
 * rounding to odd, so that the double's rounding cannot be followed by a
 * second, different one.
 */
function toFloat32(v) {
    if (typeof v !== "bigint") return v;
    const magnitude = v < 0n ? -v : v;
    const shift = magnitude.toString(2).length - 53;
    if (shift <= 0) return Number(v);
    let top = magnitude >> BigInt(shift);
    if (top << BigInt(shift) !== magnitude) top |= 1n;
    return (v < 0n ? -1 : 1) * Number(top) * 2 ** shift;
}

/** Runs `write`, adding `segment` to the path of its error. */
function within(segment, write) {
    try {
        write();
    } catch (e) {
        if (e instanceof Bad) e.path.unshift(segment);
        throw e;
    }
}

/** `a.b[2].c` from path segments. */
export const pathText = (path) => path.map((s, i) => (i > 0 && s[0] !== "[" ? `.${s}` : s)).join("");

/** The name of a node in messages and union lists: a named type's full name, else its type. */
export const describe = (node) => node.name ?? node.type;

const expected = (node, found) => bad(`expected ${describe(node)}, found ${found}`);
const unionText = (node) => `[${node.branches.map(describe).join(", ")}]`;
const noBranch = (node, found) => bad(`no branch of the union ${unionText(node)} takes ${found}`);
const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const isUuid = (s) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

/**
 * Writes a scalar into the first union branch that takes it: first those
 * of the `prefer` types, then any other but null. `write(branch, o, v, found)`
 * is the writer for the value's kind (a function, not a closure: this is
 * on the path of every optional field).
 */
function unionScalar(node, o, found, prefer, write, v) {
    const start = o.n;
    for (let pass = 0; pass < 2; pass++) {
        for (let i = 0; i < node.branches.length; i++) {
            const branch = node.branches[i];
            if (branch.type === "null" || prefer.includes(branch.type) !== (pass === 0)) continue;
            o.long(i);
            try {
                return write(branch, o, v, found);
            } catch (e) {
                if (!(e instanceof Bad)) throw e;
                o.n = start;
            }
        }
    }
    throw noBranch(node, found);
}

/** A whole number (a safe integer or a 64-bit BigInt). */
function integer(node, o, v, found) {
    switch (node.type) {
        case "long":
            return o.long(v);
        case "int":
            if (v < -(2 ** 31) || v >= 2 ** 31) throw bad(`${v} is out of range for int`);
            return o.long(v);
        case "double":
            return o.f64(Number(v));
        case "float":
            return o.f32(toFloat32(v));
        case "union":
            // Only an i64 comes here as a union's value (the int and long
            // branches of a float's union are written by `float`): `long` first.
            return unionScalar(node, o, found, ["long"], integer, v);
    }
    throw expected(node, found);
}

/** A number that is not a safe integer (or is asked for as a float). */
function float(node, o, x, found) {
    switch (node.type) {
        case "double":
            return o.f64(x);
        case "float":
            return o.f32(x);
        case "int":
        case "long": {
            if (!(x >= -TWO_63 && x < TWO_63)) throw bad(`${numberText(x)} is out of range for ${node.type}`);
            const whole = Math.trunc(x);
            if (whole !== x) throw expected(node, "a number that is not whole");
            return integer(node, o, Number.isSafeInteger(whole) ? whole + 0 : BigInt(whole), found);
        }
        case "union":
            return unionScalar(node, o, found, ["double"], float, x);
    }
    throw expected(node, found);
}

/** Whole numbers within 2^53 as integers, everything else as doubles. */
function number(node, o, x) {
    if (Number.isSafeInteger(x)) return integer(node, o, x + 0, "an i64");
    return float(node, o, x, "an f64");
}

function string(node, o, s) {
    switch (node.type) {
        case "string":
            if (node.uuid && !isUuid(s)) throw bad("not a UUID (expected 8-4-4-4-12 hexadecimal digits)");
            return o.str(s);
        case "enum": {
            const index = node.symbols.indexOf(s);
            if (index < 0) throw bad(`"${s}" is not a symbol of enum "${node.name}"`);
            return o.long(index);
        }
        case "bytes":
            if (!node.decimal) return o.str(s);
            break;
        case "union":
            return unionScalar(node, o, "a string", ["string"], string, s);
    }
    throw expected(node, "a string");
}

function bytes(node, o, u8) {
    switch (node.type) {
        case "bytes":
            o.long(u8.length);
            return o.raw(u8);
        case "fixed":
            if (u8.length !== node.size) throw bad(`expected exactly ${node.size} bytes, found ${u8.length}`);
            return o.raw(u8);
        case "string": {
            let s;
            try {
                s = strictUtf8.decode(u8);
            } catch {
                throw expected(node, "bytes that are not UTF-8");
            }
            return string(node, o, s);
        }
        case "union":
            return unionScalar(node, o, "bytes", ["bytes", "fixed"], bytes, u8);
    }
    throw expected(node, "bytes");
}

/** The branch of a union that a compound value takes (its index written), or the node itself. */
function compound(node, o, found, types) {
    if (node.type !== "union") return node;
    const index = node.branches.findIndex((b) => types.includes(b.type));
    if (index < 0) throw noBranch(node, found);
    o.long(index);
    return node.branches[index];
}

/** An object's fields, in schema order; absent ones take their default. */
function record(node, o, row) {
    let missing;
    for (const field of node.fields) {
        const v = row[field.name];
        if (v === undefined) {
            if (field.def) o.raw(field.def);
            else missing ??= field.name;
            continue;
        }
        try {
            value(field.node, o, v);
        } catch (e) {
            if (e instanceof Bad) e.path.unshift(field.name);
            throw e;
        }
    }
    if (missing !== undefined) within(missing, () => {
        throw bad("missing, and the schema gives no default");
    });
}

function map(node, o, object) {
    const keys = Object.keys(object);
    if (keys.length > 0) o.long(keys.length);
    keys.forEach((key, i) => {
        o.str(key);
        within(`[${i}]`, () => value(node.values, o, object[key]));
    });
    o.byte(0);
}

/** An array as an Avro array, or as bytes when it is empty. */
function array(node, o, items) {
    const target = compound(node, o, "a sequence", ["array", "bytes", "fixed"]);
    if (target.type === "array") {
        if (items.length > 0) o.long(items.length);
        // An index loop: a hole of a sparse array is an item, `undefined`.
        for (let i = 0; i < items.length; i++) within(`[${i}]`, () => value(target.items, o, items[i]));
        return o.byte(0);
    }
    if (target.type !== "bytes" && target.type !== "fixed") throw expected(node, "a sequence");
    if (items.length > 0) {
        // Bytes come as a Uint8Array; no item of an array is taken as a byte.
        const item = items[0];
        within("[0]", () => {
            throw item instanceof Uint8Array || Array.isArray(item)
                ? bad("expected a byte (0 to 255), found another kind")
                : expected(target, kind(item));
        });
    }
    if (target.type === "bytes") return o.long(0);
    if (target.size !== 0) throw bad(`expected exactly ${target.size} bytes, found 0`);
}

/** Any JS value, whatever the node expects; a mismatch is reported in the encoder's terms. */
function any(node, o, v) {
    switch (typeof v) {
        case "number":
            return node.type === "double" || node.type === "float" ? float(node, o, v, "an f64") : number(node, o, v);
        case "string":
            return string(node, o, v);
        case "undefined":
            return nothing(node, o);
        case "boolean":
            if (node.type === "boolean") return o.byte(v ? 1 : 0);
            if (node.type === "union") return unionScalar(node, o, "a boolean", ["boolean"], any, v);
            throw expected(node, "a boolean");
        case "bigint":
            if (v >= -(2n ** 63n) && v < 2n ** 63n) return integer(node, o, v, "an i64");
            if (v >= 0n && v < 2n ** 64n) {
                // Beyond i64: only floats hold it, written as `integer` writes them.
                if (node.type === "double" || node.type === "float") return integer(node, o, v, "a u64");
                throw bad(`${v} is out of range for ${describe(node)}`);
            }
            throw bad("a BigInt outside the 64-bit range");
        case "object":
            if (v === null) return nothing(node, o);
            if (Array.isArray(v)) return array(node, o, v);
            if (v instanceof Uint8Array) return bytes(node, o, v);
            {
                const target = compound(node, o, "a map", ["record", "map"]);
                if (target.type === "map") return map(target, o, v);
                if (target.type === "record") return record(target, o, v);
                throw expected(node, "a map");
            }
    }
    throw expected(node, kind(v));
}

function nothing(node, o) {
    if (node.type === "null") return;
    if (node.type === "union" && node.nullAt >= 0) return o.long(node.nullAt);
    throw expected(node, "null");
}

/** A value of `node`: the kind the node expects is checked first, in JS terms. */
export function value(node, o, v) {
    const type = typeof v;
    let fits;
    switch (node.type) {
        case "long":
        case "int":
            if (type === "number") return number(node, o, v);
            fits = type === "bigint";
            break;
        case "double":
        case "float":
            if (type === "number") return float(node, o, v, "an f64");
            fits = type === "bigint";
            break;
        case "string":
        case "enum":
            if (type === "string") return string(node, o, v);
            fits = false;
            break;
        case "record":
            if (isObject(v)) return record(node, o, v);
            fits = false;
            break;
        case "map":
            fits = isObject(v);
            break;
        case "boolean":
            fits = type === "boolean";
            break;
        case "null":
            fits = v == null;
            break;
        case "array":
            fits = Array.isArray(v);
            break;
        case "bytes":
        case "fixed":
            fits = v instanceof Uint8Array || Array.isArray(v);
            break;
        default:
            fits = true;
    }
    if (!fits) throw expected(node, kind(v));
    return any(node, o, v);
}

const expectedJson = (what, v) => new Error(`expected ${what}, found ${jsonKind(v)}`);

/** Code points 0 to 255 as bytes, as Avro's JSON encoding gives bytes and fixed defaults. */
function latin1(s) {
    return Uint8Array.from(s, (c) => {
        const code = c.codePointAt(0);
        if (code > 255) throw new Error(`byte strings take code points up to 255, found U+${code.toString(16).toUpperCase().padStart(4, "0")}`);
        return code;
    });
}

/**
 * A field's default (a value of ./json.js) encoded for `node`, once, when
 * the schema is read (src/engine/schema/default.rs): a union's default
 * belongs to its first branch, bytes and fixed defaults are strings of code
 * points up to 255. Throws an Error saying what does not fit.
 */
export function writeDefault(node, json) {
    const o = new Out(64);
    const write = (node, v) => {
        const t = typeof v;
        switch (node.type) {
            case "null":
                if (v !== null) throw expectedJson("null", v);
                return;
            case "boolean":
                if (t !== "boolean") throw expectedJson("a boolean", v);
                return o.byte(v ? 1 : 0);
            case "int":
                if (t !== "bigint") throw expectedJson("an int", v);
                if (v < -(2n ** 31n) || v >= 2n ** 31n) throw new Error(`${v} is out of range for an int`);
                return o.long(v);
            case "long":
                if (t !== "bigint") throw expectedJson("a long", v);
                return o.long(v);
            case "float":
            case "double":
                if (t !== "bigint" && t !== "number") throw expectedJson("a number", v);
                return node.type === "float" ? o.f32(toFloat32(v)) : o.f64(Number(v));
            case "bytes":
            case "fixed":
            case "string":
            case "enum": {
                if (t !== "string") throw expectedJson("a string", v);
                if (node.type === "string") return o.str(v);
                if (node.type === "enum") {
                    const index = node.symbols.indexOf(v);
                    if (index < 0) throw new Error(`"${v}" is not a symbol of enum "${node.name}"`);
                    return o.long(index);
                }
                const b = latin1(v);
                if (node.type === "bytes") o.long(b.length);
                else if (b.length !== node.size) throw new Error(`fixed "${node.name}" takes ${node.size} bytes, found ${b.length}`);
                return o.raw(b);
            }
            case "array":
                if (!Array.isArray(v)) throw expectedJson("an array", v);
                if (v.length > 0) o.long(v.length);
                v.forEach((item) => write(node.items, item));
                return o.byte(0);
            case "map":
                if (!(v instanceof Map)) throw expectedJson("an object", v);
                if (v.size > 0) o.long(v.size);
                for (const [key, item] of v) {
                    o.str(key);
                    write(node.values, item);
                }
                return o.byte(0);
            case "union":
                o.byte(0);
                try {
                    return write(node.branches[0], v);
                } catch (e) {
                    throw new Error(`a union's default must fit its first branch: ${e.message}`);
                }
            case "record":
                if (!(v instanceof Map)) throw expectedJson("an object", v);
                for (const field of node.fields) {
                    if (v.has(field.name)) {
                        try {
                            write(field.node, v.get(field.name));
                        } catch (e) {
                            throw new Error(`${field.name}: ${e.message}`);
                        }
                    } else if (field.def) {
                        o.raw(field.def);
                    } else {
                        throw new Error(`missing field "${field.name}"`);
                    }
                }
        }
    };
    write(node, json);
    return o.b.slice(0, o.n);
}
