// The body of benches/wasm_write.mjs, the same in Node and in a Chromium
// page: `metric.write(row)` against avsc's `toBuffer` and `encode` into a
// reused buffer, interleaved round by round, after checking that both
// produce the same bytes.

/** castai/metrics' benchmark record (as in benches/encode.rs). */
export const schema = {
    type: "record", name: "containerMetrics",
    fields: [
        { name: "container_id", type: "string" }, { name: "memory_usage", type: "long" }, { name: "cpu_usage", type: "long" },
        { name: "memory_request", type: "long" }, { name: "cpu_request", type: "long" },
    ],
};

/** Row `i`. */
export const row = (i) => ({
    container_id: `3f9c1a2b-${String(i).padStart(4, "0")}-container`,
    memory_usage: 200_000_000 + i * 4096,
    cpu_usage: 150 + (i % 900),
    memory_request: 256 << 20,
    cpu_request: 500,
});

/**
 * Runs the benchmark. `MetricClient` and `avro` (avsc) come from the
 * caller; `apiAddr` is an HTTP server that answers POST /v1/metrics and
 * keeps the Avro bytes, which `captured()` returns (and forgets) as one
 * Uint8Array; `now()` is a clock in nanoseconds. Returns ns per row,
 * median and best, for each contender.
 */
export async function bench({ MetricClient, avro, apiAddr, captured, now, rows: count, rounds, toBytes }) {
    const rows = Array.from({ length: count }, (_, i) => row(i));
    const client = new MetricClient({
        apiAddr, apiToken: "bench", clusterId: "bench", insecure: true, background: false, compression: "none",
        flushOnPageHide: false,
    });
    const metric = client.metric({ schema });
    const type = avro.Type.forSchema(schema);

    // Same bytes, or the comparison means nothing.
    for (const r of rows) metric.write(r);
    await client.flush();
    const ours = await captured();
    const parts = rows.map((r) => toBytes(type.toBuffer(r)));
    const theirs = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (theirs.set(p, at), at + p.length), 0);
    const equal = ours.length === theirs.length && ours.every((b, i) => b === theirs[i]);
    if (!equal) throw new Error(`bytes differ: edgemetrics ${ours.length} bytes, avsc ${theirs.length} bytes`);

    const reused = type.toBuffer(rows[0]).constructor.alloc(theirs.length + 1024);
    const contenders = {
        "edgemetrics metric.write": async () => {
            const start = now();
            for (let i = 0; i < count; i++) metric.write(rows[i]);
            const ns = now() - start;
            await client.flush(); // untimed: sends and frees the chunks
            await captured();
            return ns;
        },
        "avsc toBuffer": async () => {
            const start = now();
            for (let i = 0; i < count; i++) type.toBuffer(rows[i]);
            return now() - start;
        },
        "avsc encode (reused buffer)": async () => {
            const start = now();
            let pos = 0;
            for (let i = 0; i < count; i++) pos = type.encode(rows[i], reused, pos);
            return now() - start;
        },
    };
    const samples = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]));
    for (let round = 0; round < rounds; round++) {
        // Interleaved, so that the machine's other load falls on all alike.
        for (const [name, run] of Object.entries(contenders)) samples[name].push((await run()) / count);
    }
    await client.close();
    const results = {};
    for (const [name, values] of Object.entries(samples)) {
        const sorted = values.slice(Math.floor(rounds / 5)).sort((a, b) => a - b); // the first fifth warms up
        results[name] = { median: sorted[Math.floor(sorted.length / 2)], best: sorted[0] };
    }
    return { bytes: ours.length, results };
}
