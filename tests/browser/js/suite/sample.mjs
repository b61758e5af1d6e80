// The sample rows of the suites, the same as the native writer's
// (tests/browser/src/lib.rs): strings (not only ASCII), longs, a double, a
// boolean, an array, a nullable union and an enum.

/** The schema of sample rows stored in `collection`, as JSON text. */
export const sampleSchema = (collection) => JSON.stringify({
    type: "record", name: collection,
    fields: [
        { name: "host", type: "string" }, { name: "seq", type: "long" }, { name: "bytes", type: "long" },
        { name: "ratio", type: "double" }, { name: "ok", type: "boolean" },
        { name: "tags", type: { type: "array", items: "string" } },
        { name: "note", type: ["null", "string"], default: null },
        { name: "level", type: { type: "enum", name: "Level", symbols: ["debug", "info", "warn"] } },
    ],
});

/** Row `i` of a run: every value depends on `i` only. */
export const sample = (i) => ({
    host: `host-${i % 7}.é✓`,
    seq: i,
    bytes: 1_000_000_007 * i - 3,
    ratio: i / 8 - 0.5,
    ok: i % 3 === 0,
    tags: Array.from({ length: i % 3 }, (_, t) => `t${t}`),
    note: i % 2 === 1 ? `odd ${i}` : null,
    level: ["debug", "info", "warn"][i % 3],
});

/** Throws unless `rows` (stored or received) are exactly `expected`, in any order. */
export function sameRows(rows, expected) {
    const fields = Object.keys(expected[0] ?? {});
    const pick = (row) => JSON.stringify(fields.map((f) => row[f]));
    const got = [...rows].sort((a, b) => a.seq - b.seq).map(pick);
    const want = expected.map(pick);
    if (got.length !== want.length) throw new Error(`${got.length} rows, not ${want.length}; seqs ${rows.map((r) => r.seq)}`);
    got.forEach((row, i) => {
        if (row !== want[i]) throw new Error(`row seq ${expected[i].seq}:\n  expected ${want[i]}\n  got      ${row}`);
    });
}
