// The fast path of `metric.write(row)` for flat records (every field a
// long, int, double, float, string or boolean): the fields are read here,
// in JS, and laid out on the metric's tape in wasm memory, then one call
// into wasm encodes the row with the same encoder as the general path
// (see src/wasm/tape.rs). Anything else (another JS kind, null, a missing
// field, a very long string) takes the general path, which gives the
// errors.
//
// Where the runtime allows it, the reader of a metric's fields is compiled
// for its schema (`new Function`, as avsc does), so that each field is a
// plain property read; where it does not (a page whose Content Security
// Policy forbids eval, Cloudflare Workers) a loop over the field names does
// the same work.
const PLAN = Symbol("edgemetrics.tape");
const INTEGER = 0;
const FLOAT = 1;
const BOOLEAN = 3;
const encoder = new TextEncoder();

/** Copies `value` as UTF-8 to `u8` at `at`, at most `limit` bytes; returns the length. */
function utf8(value, u8, at, limit) {
    const length = value.length;
    let j = 0;
    for (; j < length; j++) {
        const code = value.charCodeAt(j);
        if (code >= 0x80) break;
        u8[at + j] = code;
    }
    return j === length ? j : j + encoder.encodeInto(value.slice(j), u8.subarray(at + j, limit)).written;
}

/** The loop: reads the fields by name. Returns false for rows it cannot lay out. */
function loop(plan) {
    const { names, kinds, address, bytes } = plan;
    const count = names.length;
    const slots = address >>> 3;
    const words = address >>> 2;
    const area = address + 8 * count;
    return (row, u8, f64, u32) => {
        let used = 0;
        for (let i = 0; i < count; i++) {
            const value = row[names[i]];
            const kind = kinds[i];
            if (kind === INTEGER || kind === FLOAT) {
                if (typeof value !== "number") return false;
                f64[slots + i] = value;
            } else if (kind === BOOLEAN) {
                if (typeof value !== "boolean") return false;
                f64[slots + i] = value ? 1 : 0;
            } else {
                if (typeof value !== "string" || used + 3 * value.length > bytes) return false;
                const written = utf8(value, u8, area + used, area + bytes);
                u32[words + 2 * i] = used;
                u32[words + 2 * i + 1] = written;
                used += written;
            }
        }
        return true;
    };
}

/** The same reader, compiled for the plan's fields; `null` where eval is refused. */
function compiled(plan) {
    const { names, kinds, address, bytes } = plan;
    const slots = address >>> 3;
    const words = address >>> 2;
    const area = address + 8 * names.length;
    const lines = ["let used = 0, value, written;"];
    names.forEach((name, i) => {
        lines.push(`value = row[${JSON.stringify(String(name))}];`);
        if (kinds[i] === INTEGER || kinds[i] === FLOAT) {
            lines.push(`if (typeof value !== "number") return false;`, `f64[${slots + i}] = value;`);
        } else if (kinds[i] === BOOLEAN) {
            lines.push(`if (typeof value !== "boolean") return false;`, `f64[${slots + i}] = value ? 1 : 0;`);
        } else {
            lines.push(
                `if (typeof value !== "string" || used + 3 * value.length > ${bytes}) return false;`,
                `written = utf8(value, u8, ${area} + used, ${area + bytes});`,
                `u32[${words + 2 * i}] = used;`,
                `u32[${words + 2 * i + 1}] = written;`,
                "used += written;",
            );
        }
    });
    lines.push("return true;");
    try {
        const make = new Function("utf8", `return function (row, u8, f64, u32) {\n${lines.join("\n")}\n};`);
        return make(utf8);
    } catch {
        return null;
    }
}

/** Replaces `Metric.prototype.write` once the module's `memory` is known. */
export function install(Metric, memory) {
    if (Metric.prototype.write[PLAN]) return;
    const general = Metric.prototype.write;
    let u8 = new Uint8Array(memory.buffer);
    let f64 = new Float64Array(memory.buffer);
    let u32 = new Uint32Array(memory.buffer);

    function write(row) {
        let read = this[PLAN];
        if (read === undefined) {
            const plan = this.__tapePlan();
            read = this[PLAN] = plan === null ? null : (compiled(plan) ?? loop(plan));
        }
        if (read === null || typeof row !== "object" || row === null) return general.call(this, row);
        if (u8.byteLength === 0) {
            // The memory grew: views of the old buffer are detached.
            u8 = new Uint8Array(memory.buffer);
            f64 = new Float64Array(memory.buffer);
            u32 = new Uint32Array(memory.buffer);
        }
        if (!read(row, u8, f64, u32)) return general.call(this, row);
        if (this.__writeTape() !== 0) throw this.__tapeError();
    }
    write[PLAN] = true;
    Metric.prototype.write = write;
}
