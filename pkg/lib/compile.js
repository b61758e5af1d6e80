// The fast path of `metric.write(row)`: a function made for the metric's
// record (`new Function`, as avsc does) that reads each field with a plain
// property access. Numbers and booleans are written inline; other fields go
// to a writer of their kind (string, and unions of null and a common kind)
// or to the general encoder. It returns false on anything it does not take
// as it comes (another JS kind, a missing field), and the general path
// (./encode.js) encodes the row again, or throws its error: the bytes are
// the same either way, which tests/browser/js/encode.test.mjs checks.
// Where eval is refused (a page whose Content Security Policy forbids it,
// Cloudflare Workers) every row takes the general path.
import { Bad, value } from "./encode.js";

/** Writers of the common kinds: true when they took the value as it is. */
const FAST = {
    long: (o, v) => Number.isSafeInteger(v) && (o.long(v), true),
    int: (o, v) => typeof v === "number" && (v | 0) === v && (o.long(v), true),
    double: (o, v) => typeof v === "number" && (o.f64(v), true),
    float: (o, v) => typeof v === "number" && (o.f32(v), true),
    string: (o, v) => typeof v === "string" && (o.str(v), true),
    boolean: (o, v) => typeof v === "boolean" && (o.byte(v ? 1 : 0), true),
};

/** The writer of a field of `node`. */
function writer(node) {
    const inner = node.type === "union" && node.branches.length === 2 && node.nullAt >= 0 ? node.branches[1 - node.nullAt] : node;
    const fast = inner.uuid ? null : FAST[inner.type];
    if (fast && inner === node) return fast;
    // In a union the engine writes a -0 as 0 (an integer first).
    if (fast) return (o, v) => (v === null ? (o.byte(2 * node.nullAt), true) : v !== undefined && (o.byte(2 - 2 * node.nullAt), fast(o, v === 0 ? 0 : v)));
    return (o, v) => {
        if (v === undefined) return false;
        try {
            value(node, o, v);
            return true;
        } catch (e) {
            if (e instanceof Bad) return false;
            throw e;
        }
    };
}

/** Inline code writing `v` of a number or boolean kind, and its largest size. */
const INLINE = {
    long: ["if(typeof v=='number'&&v>-1073741825&&v<1073741824&&(v|0)===v){z=(v<<1^v>>31)>>>0;while(z>127){b[n++]=z&127|128;z>>>=7}b[n++]=z}else ", 5],
    int: ["if(typeof v=='number'&&(v|0)===v){z=(v<<1^v>>31)>>>0;while(z>127){b[n++]=z&127|128;z>>>=7}b[n++]=z}else return false;", 5],
    double: ["if(typeof v!='number')return false;d.setFloat64(n,v,true);n+=8;", 8],
    float: ["if(typeof v!='number')return false;d.setFloat32(n,v,true);n+=4;", 4],
    boolean: ["if(v===true)b[n++]=1;else if(v===false)b[n++]=0;else return false;", 1],
};

/** Whether this runtime refuses `new Function` (Cloudflare Workers always do: no need to try, and pay for the exception). */
let refused = globalThis.navigator?.userAgent === "Cloudflare-Workers";

/** The writer of `root`'s rows, or one that always defers to the general path. */
export function compile(root) {
    if (refused) return () => false;
    const writers = root.fields.map((f) => writer(f.node));
    // Room for the inline writes from field i on, checked at the start and after each call.
    const room = root.fields.map((f) => INLINE[f.node.type]?.[1] ?? 0);
    for (let i = room.length - 2; i >= 0; i--) room[i] += room[i + 1];
    const ensure = (i) => `if(n+${room[i] ?? 0}>b.length){o.n=n;o.room(${room[i] ?? 0});b=o.b;d=o.v}`;
    const call = (i) => `{o.n=n;if(!w[${i}](o,v))return false;n=o.n;b=o.b;d=o.v;${ensure(i + 1)}}`;
    const code = root.fields.map((f, i) => {
        const [inline] = INLINE[f.node.type] ?? [];
        return `v=row[${JSON.stringify(f.name)}];${inline === undefined ? call(i) : f.node.type === "long" ? inline + call(i) : inline}`;
    });
    try {
        return new Function("w", `return (row,o)=>{if(typeof row!='object'||row===null||Array.isArray(row))return false;let b=o.b,d=o.v,n=o.n,v,z;${ensure(0)}${code.join("")}o.n=n;return true}`)(writers);
    } catch {
        refused = true;
        return () => false;
    }
}
