#!/usr/bin/env node
// `metric.write(row)` throughput from JavaScript, JS-to-wasm crossing
// included, against avsc on the same rows in the same run, with the bytes
// checked equal first. The row is castai/metrics' containerMetrics record
// (as in benches/encode.rs).
//
//   node benches/wasm_write.mjs [--rows 1000] [--rounds 200] [--build default|grpc-web]
//
// Needs pkg/dist (pkg/build.sh) and tests/browser/js/node_modules (avsc);
// scripts/setup-wasm.sh installs the latter. Rows are written into the
// metric between untimed flushes to an in-process HTTP server that keeps
// the bodies, so the timing is of `write` alone, chunk sealing included.
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(resolve(root, "tests/browser/js/package.json"));
const avro = require("avsc");
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const ROWS = Number(option("--rows", 1000));
const ROUNDS = Number(option("--rounds", 200));
const build = option("--build", "default");
const { MetricClient } = await import(resolve(root, build === "default" ? "pkg/node.js" : "pkg/grpc-web-node.js"));

const schema = {
    type: "record", name: "containerMetrics",
    fields: [
        { name: "container_id", type: "string" }, { name: "memory_usage", type: "long" }, { name: "cpu_usage", type: "long" },
        { name: "memory_request", type: "long" }, { name: "cpu_request", type: "long" },
    ],
};
const rows = Array.from({ length: ROWS }, (_, i) => ({
    container_id: `3f9c1a2b-${String(i).padStart(4, "0")}-container`,
    memory_usage: 200_000_000 + i * 4096,
    cpu_usage: 150 + (i % 900),
    memory_request: 256 << 20,
    cpu_request: 500,
}));

// The collector's part, in process: keep the Avro bytes of each chunk.
// WriteMetricsBatchRequest { repeated WriteMetricsRequest chunks = 1 },
// WriteMetricsRequest { bytes metrics = 2, ... }.
const received = [];
function varint(bytes, at) {
    let value = 0, shift = 0, byte;
    do {
        byte = bytes[at.pos++];
        value += (byte & 0x7f) * 2 ** shift;
        shift += 7;
    } while (byte & 0x80);
    return value;
}
function fields(bytes, visit) {
    const at = { pos: 0 };
    while (at.pos < bytes.length) {
        const key = varint(bytes, at);
        const wire = key & 7;
        if (wire === 0) varint(bytes, at);
        else if (wire === 1) at.pos += 8;
        else if (wire === 5) at.pos += 4;
        else {
            const len = varint(bytes, at);
            visit(key >> 3, bytes.subarray(at.pos, at.pos + len));
            at.pos += len;
        }
    }
}
const server = createServer((request, response) => {
    const parts = [];
    request.on("data", (part) => parts.push(part));
    request.on("end", () => {
        fields(Buffer.concat(parts), (field, chunk) => field === 1 && fields(chunk, (f, v) => f === 2 && received.push(Buffer.from(v))));
        response.writeHead(200, { "content-type": "application/x-protobuf" }).end(Buffer.from([0x08, 0x01]));
    });
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const client = new MetricClient({
    apiAddr: `127.0.0.1:${server.address().port}`, apiToken: "bench", clusterId: "bench", insecure: true,
    background: false, compression: "none",
});
const metric = client.metric({ schema });
const type = avro.Type.forSchema(schema);

// Same bytes, or the comparison means nothing.
for (const row of rows) metric.write(row);
await client.flush();
const ours = Buffer.concat(received.splice(0));
const theirs = Buffer.concat(rows.map((row) => type.toBuffer(row)));
if (!ours.equals(theirs)) {
    console.error(`bytes differ: edgemetrics ${ours.length} bytes, avsc ${theirs.length} bytes`);
    process.exit(1);
}

const reused = Buffer.alloc(theirs.length + 1024);
const contenders = {
    "edgemetrics metric.write": async () => {
        const start = process.hrtime.bigint();
        for (let i = 0; i < ROWS; i++) metric.write(rows[i]);
        const ns = process.hrtime.bigint() - start;
        await client.flush(); // untimed: sends and frees the chunks
        received.length = 0;
        return ns;
    },
    "avsc toBuffer": async () => {
        const start = process.hrtime.bigint();
        for (let i = 0; i < ROWS; i++) type.toBuffer(rows[i]);
        return process.hrtime.bigint() - start;
    },
    "avsc encode (reused buffer)": async () => {
        const start = process.hrtime.bigint();
        let pos = 0;
        for (let i = 0; i < ROWS; i++) pos = type.encode(rows[i], reused, pos);
        return process.hrtime.bigint() - start;
    },
};
const results = {};
for (const name of Object.keys(contenders)) results[name] = [];
for (let round = 0; round < ROUNDS; round++) {
    // Interleaved, so that the machine's other load falls on all alike.
    for (const [name, run] of Object.entries(contenders)) results[name].push(Number(await run()) / ROWS);
}
await client.close();
server.close();

console.log(`containerMetrics, ${ROWS} rows x ${ROUNDS} rounds, Node ${process.version}, build ${build}; bytes equal (${ours.length} bytes per ${ROWS} rows)`);
for (const [name, samples] of Object.entries(results)) {
    const sorted = samples.slice(ROUNDS / 5).sort((a, b) => a - b); // first fifth is warm-up
    const median = sorted[Math.floor(sorted.length / 2)];
    const best = sorted[0];
    console.log(`  ${name.padEnd(30)} ${median.toFixed(1).padStart(7)} ns/row median  ${best.toFixed(1).padStart(7)} best  ${(1e9 / median / 1e6).toFixed(2).padStart(6)} M rows/s`);
}
