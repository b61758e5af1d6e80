// Avro binary into plain JS values, for subscriptions (src/engine/avro/value.rs
// and reader.rs in JS): records and maps become objects, arrays arrays,
// `long` a number when it is a safe integer and a BigInt beyond, `bytes`
// and fixed a Uint8Array, enums their symbol, unions their branch's value.
// The bytes come from the network: counts are bounded by the bytes left
// (or, for items of zero width, by a budget for the whole input) and
// nesting by a depth, so hostile input cannot make it loop or run out of
// stack.

const MAX_DEPTH = 256;
const MAX_ZERO_WIDTH_ITEMS = 1 << 20;
const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** `object[key] = value`, where a key "__proto__" is a property like any other. */
function put(object, key, value) {
    if (key === "__proto__") Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
    else object[key] = value;
}

/** Whether values of `node` take no bytes (null, fixed of size 0, records of such fields). */
function zeroWidth(node, depth = 0) {
    if (node.type === "null") return true;
    if (node.type === "fixed") return node.size === 0;
    return node.type === "record" && depth < MAX_DEPTH && node.fields.every((f) => zeroWidth(f.node, depth + 1));
}

/** Decodes `count` rows of `root` that fill `bytes` exactly; throws `{ offset, message }` errors. */
export function decodeRows(root, bytes, count) {
    let at = 0;
    let zeroWidthLeft = MAX_ZERO_WIDTH_ITEMS;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const fail = (message) => {
        const e = new Error(`invalid Avro data at byte ${at}: ${message}`);
        e.offset = at;
        throw e;
    };
    /** A zigzag long: a number within 2^53, a BigInt beyond. */
    const long = () => {
        let lo = 0;
        let hi = 0;
        for (let i = 0; i < 10 && at < bytes.length; i++) {
            const byte = bytes[at++];
            if (i < 4) lo += (byte & 127) * 2 ** (7 * i);
            else if (i === 4) {
                lo += (byte & 15) * 2 ** 28;
                hi += (byte & 127) >> 4;
            } else hi += (byte & 127) * 2 ** (7 * i - 32);
            if (byte < 128) {
                if (i === 9 && byte > 1) break;
                // hi * 2^32 + lo, zigzag-decoded: exact as a number below 2^53.
                if (hi < 2 ** 21) {
                    const z = hi * 2 ** 32 + lo;
                    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
                }
                const z = (BigInt(hi) << 32n) | BigInt(lo);
                const v = (z >> 1n) ^ -(z & 1n);
                return v > -(2n ** 53n) && v < 2n ** 53n ? Number(v) : v;
            }
        }
        return fail("truncated or overlong variable-length integer");
    };
    const length = () => {
        const n = long();
        if (typeof n !== "number" || n < 0 || n > bytes.length - at) {
            fail(`length ${n} is negative or longer than the ${bytes.length - at} bytes left`);
        }
        return n;
    };
    const take = (n) => {
        if (n > bytes.length - at) fail(`${n} bytes needed, ${bytes.length - at} left`);
        at += n;
        return bytes.slice(at - n, at);
    };
    const index = (count, what) => {
        const v = long();
        if (typeof v !== "number" || v < 0 || v >= count) fail(`${what} index ${v} is outside 0..${count}`);
        return v;
    };
    const block = (item) => {
        let n = long();
        if (typeof n === "bigint") n = Number(n < 0n ? -n : n);
        if (n < 0) {
            n = -n;
            long();
        }
        if (zeroWidth(item)) {
            if (n > zeroWidthLeft) fail(`block of ${n} zero-width items is beyond the limit of ${MAX_ZERO_WIDTH_ITEMS} per input`);
            zeroWidthLeft -= n;
        } else if (n > bytes.length - at) {
            fail(`block of ${n} items is implausible for the ${bytes.length - at} bytes left`);
        }
        return n;
    };
    const read = (node, depth) => {
        if (depth > MAX_DEPTH) fail("values nested too deeply");
        switch (node.type) {
            case "null":
                return null;
            case "boolean": {
                const b = take(1)[0];
                if (b > 1) fail(`boolean byte ${b} is neither 0 nor 1`);
                return b === 1;
            }
            case "int": {
                const v = long();
                if (v < -(2 ** 31) || v >= 2 ** 31) fail(`${v} is out of range for an int`);
                return v;
            }
            case "long":
                return long();
            case "float":
                take(4);
                return view.getFloat32(at - 4, true);
            case "double":
                take(8);
                return view.getFloat64(at - 8, true);
            case "bytes":
                return take(length());
            case "fixed":
                return take(node.size);
            case "string": {
                const start = at;
                const b = take(length());
                try {
                    return text.decode(b);
                } catch {
                    at = start;
                    return fail("string is not UTF-8");
                }
            }
            case "enum":
                return node.symbols[index(node.symbols.length, "enum symbol")];
            case "union":
                return read(node.branches[index(node.branches.length, "union branch")], depth + 1);
            case "array": {
                const items = [];
                for (let n; (n = block(node.items)) > 0;) while (n-- > 0) items.push(read(node.items, depth + 1));
                return items;
            }
            case "map": {
                const object = {};
                for (let n; (n = block(node.values)) > 0;) {
                    while (n-- > 0) {
                        const start = at;
                        const b = take(length());
                        let key;
                        try {
                            key = text.decode(b);
                        } catch {
                            at = start;
                            fail("string is not UTF-8");
                        }
                        put(object, key, read(node.values, depth + 1));
                    }
                }
                return object;
            }
            default: {
                const object = {};
                for (const field of node.fields) {
                    put(object, field.name, read(field.node, depth + 1));
                }
                return object;
            }
        }
    };
    const limit = zeroWidth(root) ? MAX_ZERO_WIDTH_ITEMS : bytes.length;
    if (count > limit) fail(`${count} rows cannot be held by ${bytes.length} bytes`);
    const rows = [];
    for (let i = 0; i < count; i++) rows.push(read(root, 0));
    if (at !== bytes.length) fail(`${bytes.length - at} bytes left over after ${count} rows`);
    return rows;
}
