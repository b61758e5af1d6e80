// The fast path of `metric.write(row)`: a function compiled for the
// metric's record (`new Function`, as avsc does) that reads each field with
// a plain property access and writes the common kinds inline: long, int,
// double, float, string, boolean, enum, and unions of null and one of
// these. Other fields go through the general encoder. It returns false on
// anything it does not take as it comes (another JS kind, a missing field,
// an integer beyond 2^30 that is not safe), and the general path
// (./encode.js) encodes the row again, or throws its error: the bytes are
// the same either way, which tests/browser/js/encode.test.mjs checks.
// Where eval is refused (a page whose Content Security Policy forbids it,
// Cloudflare Workers) every row takes the general path.
import { Bad, value } from "./encode.js";

/** Upper bounds of the inline kinds' encodings. */
const SIZES = { long: 10, int: 5, double: 8, float: 4, boolean: 1, enum: 5 };

/** The general encoder for one field: false instead of its error. */
function general(node, v, o) {
    try {
        value(node, o, v);
        return true;
    } catch (e) {
        if (e instanceof Bad) return false;
        throw e;
    }
}

/** Code writing `v` of an inline kind, or null. */
function inline(node, i) {
    const varint = "while (z > 127) { b[n++] = (z & 127) | 128; z >>>= 7; } b[n++] = z;";
    switch (node.type) {
        case "long":
            return `if (typeof v === "number" && (v | 0) === v && v >= -1073741824 && v < 1073741824) { z = ((v << 1) ^ (v >> 31)) >>> 0; ${varint} }
                else if (Number.isSafeInteger(v)) { o.n = n; o.long(v); n = o.n; b = o.b; dv = o.v; } else return false;`;
        case "int":
            return `if (typeof v !== "number" || (v | 0) !== v) return false; z = ((v << 1) ^ (v >> 31)) >>> 0; ${varint}`;
        case "double":
            return `if (typeof v !== "number") return false; dv.setFloat64(n, v, true); n += 8;`;
        case "float":
            return `if (typeof v !== "number") return false; dv.setFloat32(n, v, true); n += 4;`;
        case "boolean":
            return `if (v === true) b[n++] = 1; else if (v === false) b[n++] = 0; else return false;`;
        case "enum":
            return `if (typeof v !== "string") return false; z = nodes[${i}].symbols.indexOf(v); if (z < 0) return false; z <<= 1; ${varint}`;
    }
    return null;
}

/** The compiled writer of `root`'s rows, or one that always defers to the general path. */
export function compile(root) {
    const nodes = [];
    const lines = ["let b = o.b, dv = o.v, n = o.n, v, z;"];
    const sync = "n = o.n; b = o.b; dv = o.v;";
    const sizes = [];
    const room = [];
    root.fields.forEach((field, i) => {
        const node = field.node;
        nodes.push(node);
        lines.push(`v = row[${JSON.stringify(field.name)}];`);
        const nullable = node.type === "union" && node.branches.length === 2 && node.nullAt >= 0;
        const inner = nullable ? node.branches[1 - node.nullAt] : node;
        if (inner.type === "string" && !inner.uuid) {
            const write = `if (typeof v !== "string") return false; o.n = n; o.str(v); ${sync}`;
            lines.push(nullable ? `if (v === null) b[n++] = ${2 * node.nullAt}; else { b[n++] = ${2 - 2 * node.nullAt}; ${write} }` : write);
            room.push([lines.length, i]);
            lines.push("");
            sizes.push(nullable ? 1 : 0);
            return;
        }
        // In a union, numbers are written as the engine's union rules give them: -0 as 0.
        const code = inline(inner, i);
        if (code !== null && (!nullable || inner.type !== "enum")) {
            const write = nullable && (inner.type === "double" || inner.type === "float") ? `v += 0; ${code}` : code;
            lines.push(nullable ? `if (v === null) b[n++] = ${2 * node.nullAt}; else { b[n++] = ${2 - 2 * node.nullAt}; ${write} }` : write);
            sizes.push(SIZES[inner.type] + (nullable ? 1 : 0));
            return;
        }
        lines.push(`o.n = n; if (v === undefined || !general(nodes[${i}], v, o)) return false; ${sync}`);
        room.push([lines.length, i]);
        lines.push("");
        sizes.push(0);
    });
    lines.push("o.n = n; return true;");
    // After a write of any size, room for the fixed-size writes still to come.
    const rest = (i) => sizes.slice(i + 1).reduce((a, b) => a + b, 0);
    for (const [line, i] of room) lines[line] = `if (n + ${rest(i)} > b.length) { o.n = n; o.room(${rest(i)}); ${sync} }`;
    const fixed = rest(-1);
    lines.splice(1, 0, `if (typeof row !== "object" || row === null) return false; if (n + ${fixed} > b.length) { o.room(${fixed}); ${sync} }`);
    try {
        return new Function("general", "nodes", `return function write(row, o) {\n${lines.join("\n")}\n};`)(general, nodes);
    } catch {
        return () => false;
    }
}
