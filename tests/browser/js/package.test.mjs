// The npm package as users get it: `npm pack` of pkg/, installed from the
// tarball into an empty project, imported by its name, run in Node against
// the collector the harness started. Run through harness.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, rmSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createRequire } from "node:module";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, "../../../pkg");
const collector = process.env.EDGEMETRICS_COLLECTOR_URL;
const token = process.env.EDGEMETRICS_TOKEN;
const project = mkdtempSync(join(tmpdir(), "edgemetrics-package-"));
let packed;

/** What a user's `npm pack` tarball must hold, and nothing else. */
const EXPECTED_FILES = [
    "README.md", "dist/edgemetrics-instruments.wasm", "dist/edgemetrics.wasm", "grpc-web-node.js", "grpc-web.js", "index.d.ts", "index.js",
    "instruments-node.js", "instruments.d.ts", "instruments.js",
    ...["client", "compile", "core", "decode", "encode", "errors", "fetch", "grpc-web", "instruments", "json", "live", "load", "metric",
        "options", "proto", "schema", "subscription"].map((name) => `lib/${name}.js`),
    "node.js", "package.json",
];

before(() => {
    assert.ok(collector, "run through tests/browser/js/harness.mjs");
    const [info] = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", project, pkg], { encoding: "utf8" }));
    packed = info;
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "user", private: true, type: "module" }));
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--offline", join(project, info.filename)], { cwd: project, stdio: "ignore" });
    // Modules of the user's project, so that "edgemetrics" resolves as for them.
    writeFileSync(join(project, "default.mjs"), 'export * from "edgemetrics"; export { default } from "edgemetrics";\n');
    writeFileSync(join(project, "grpc.mjs"), 'export * from "edgemetrics/grpc-web"; export { default } from "edgemetrics/grpc-web";\n');
});
after(() => rmSync(project, { recursive: true, force: true }));

const schema = (name) => ({
    type: "record", name,
    fields: [
        { name: "host", type: "string" }, { name: "seq", type: "long" }, { name: "load", type: "double" },
        { name: "up", type: "boolean" }, { name: "labels", type: { type: "map", values: "string" } },
        { name: "note", type: ["null", "string"], default: null },
    ],
});
const row = (seq) => ({ host: `node-${seq % 3}`, seq, load: seq / 4, up: seq % 2 === 0, labels: { zone: `z${seq % 2}` }, note: seq % 5 ? null : `five ${seq}` });
const unique = (prefix) => `${prefix}_${Math.random().toString(16).slice(2, 10)}`;
const options = (extra = {}) => ({ apiAddr: collector, apiToken: token, clusterId: "node", insecure: true, flushIntervalMs: 50, ...extra });

async function stored(collection) {
    const response = await fetch(`${collector}/api/collections/${collection}/rows?limit=10000&token=${token}`);
    assert.equal(response.status, 200, await response.clone().text());
    const { rows } = await response.json();
    return rows
        .map(({ host, seq, load, up, labels, note }) => ({ host, seq, load, up, labels, note }))
        .sort((a, b) => a.seq - b.seq);
}

async function roundTrip(entry, transport) {
    const { MetricClient } = await import(pathToFileURL(join(project, entry)));
    const collection = unique(`npm_${transport.replace("-", "_")}`);
    const client = new MetricClient(options({ transport }));
    const metric = client.metric({ schema: schema(collection) });
    const rows = Array.from({ length: 250 }, (_, seq) => row(seq));
    for (const r of rows.slice(0, 100)) metric.write(r);
    assert.equal(metric.writeMany(rows.slice(100)), 150);
    await client.flush();
    assert.deepEqual(await stored(collection), rows);
    const report = await client.close();
    assert.equal(report.undeliveredRows, 0);
    assert.equal(report.stats.rowsAcked, 250);
}

test("the tarball holds only what users need", () => {
    assert.deepEqual(packed.files.map((f) => f.path).sort(), EXPECTED_FILES);
    const manifest = JSON.parse(readFileSync(join(project, "node_modules/edgemetrics/package.json"), "utf8"));
    assert.equal(manifest.type, "module");
    assert.equal(manifest.devDependencies.binaryen !== undefined, true, "dev tools stay dev dependencies");
    assert.equal(manifest.dependencies, undefined, "no runtime dependencies");
});

test("rows written with fetch arrive equal", () => roundTrip("default.mjs", "fetch"));

test("rows written with gRPC-web (edgemetrics/grpc-web) arrive equal", () => roundTrip("grpc.mjs", "grpc-web"));

test("flat rows take the compiled path and arrive equal; bad ones throw as on the general path", async () => {
    const { MetricClient } = await import(pathToFileURL(join(project, "default.mjs")));
    const collection = unique("npm_flat");
    const client = new MetricClient(options());
    const metric = client.metric({
        schema: {
            type: "record", name: collection,
            fields: [
                { name: "name", type: "string" }, { name: "n", type: "long" }, { name: "small", type: "int" },
                { name: "x", type: "double" }, { name: "f", type: "float" }, { name: "on", type: "boolean" },
            ],
        },
    });
    const long = "é✓ ".repeat(7000); // a string of 42 KB
    const rows = [
        { name: "plain", n: 1, small: -2, x: 0.1, f: 0.5, on: true },
        { name: "naïve ☃ 😀", n: 2 ** 53 - 1, small: 2 ** 31 - 1, x: -1e300, f: 3.25, on: false },
        { name: "", n: -(2 ** 53) + 1, small: -(2 ** 31), x: Number.MIN_VALUE, f: -1.5, on: true },
        { name: long, n: 0, small: 0, x: 0, f: 0, on: false },
    ];
    for (const row of rows) metric.write(row);
    const refused = [
        [{ ...rows[0], n: "1" }, 'field "n": expected long, found a string'],
        [{ ...rows[0], n: 1.5 }, 'field "n": expected long, found a number that is not whole'],
        [{ ...rows[0], small: 2 ** 31 }, 'field "small": 2147483648 is out of range for int'],
        [{ ...rows[0], n: 1e21 }, 'field "n": 1000000000000000000000 is out of range for long'],
        [{ ...rows[0], n: -Infinity }, 'field "n": -inf is out of range for long'],
        [{ ...rows[0], on: 1 }, 'field "on": expected boolean, found a number'],
        [{ ...rows[0], name: null }, 'field "name": expected string, found null'],
        [{ n: 1, small: 1, x: 1, f: 1, on: true }, 'field "name": missing, and the schema gives no default'],
    ];
    for (const [row, message] of refused) assert.throws(() => metric.write(row), { name: "RowError", message });
    await client.flush();
    const response = await fetch(`${collector}/api/collections/${collection}/rows?limit=100&token=${token}`);
    const stored = (await response.json()).rows.sort((a, b) => a._chunk_id.localeCompare(b._chunk_id));
    assert.equal(stored.length, rows.length);
    const byName = new Map(stored.map((r) => [r.name, r]));
    for (const row of rows) {
        const got = byName.get(row.name);
        assert.ok(got, `row ${row.name.slice(0, 20)} stored`);
        assert.deepEqual({ n: got.n, small: got.small, x: got.x, on: got.on }, { n: row.n, small: row.small, x: row.x, on: row.on });
        assert.equal(got.f, Math.fround(row.f));
    }
    await client.close();
});

test("the default build names the build that has gRPC-web", async () => {
    const { MetricClient } = await import(pathToFileURL(join(project, "default.mjs")));
    assert.throws(() => new MetricClient(options({ transport: "grpc-web" })), {
        name: "OptionError",
        option: "transport",
        message: 'option "transport": "grpc-web" is not in this build; import "edgemetrics/grpc-web" for it',
    });
});

test("errors are JS Errors naming the field or option", async () => {
    const { MetricClient } = await import(pathToFileURL(join(project, "default.mjs")));
    assert.throws(() => new MetricClient({ ...options(), clusterId: "has space" }), { name: "OptionError", option: "clusterId" });
    assert.throws(() => new MetricClient(options({ apiAddr: "http://127.0.0.1:1", insecure: false })), /plaintext/);
    const client = new MetricClient(options());
    const metric = client.metric({ schema: JSON.stringify(schema(unique("errors"))) });
    assert.throws(() => metric.write({ ...row(1), labels: { zone: 5 } }), (error) => {
        assert.ok(error instanceof Error);
        assert.equal(error.name, "RowError");
        assert.equal(error.field, "labels[0]");
        return true;
    });
    assert.throws(() => metric.write({ ...row(1), seq: 1.5 }), { name: "RowError", field: "seq", message: 'field "seq": expected long, found a number that is not whole' });
    assert.equal(client.stats().rowsWritten, 0);
    await client.close();
    assert.throws(() => metric.write(row(1)), { name: "ClosedError" });
});

test("numbers in schemas and messages read and print as in native Rust (the wasm build uses JS for both)", async () => {
    const { MetricClient } = await import(pathToFileURL(join(project, "default.mjs")));
    for (const [value, text] of [[1.5, "1.5"], [1e-7, "0.0000001"], [1e21, "1000000000000000000000"], [-0, "-0"], [Infinity, "inf"], [NaN, "NaN"]]) {
        assert.throws(() => new MetricClient(options({ flushIntervalMs: value })), {
            name: "OptionError",
            message: `option "flushIntervalMs": must be a whole number greater than 0, not ${text}`,
        });
    }
    const client = new MetricClient(options());
    const defaults = [
        ["0.30000000000000004", "0.30000000000000004"], ["1.5e300", "15" + "0".repeat(299)], ["1E-7", "0.0000001"],
        ["-0.0", "-0.0"], ["12345678901234567890123", "12345678901234568000000"], ["5e-324", "0." + "0".repeat(323) + "5"],
    ];
    const withDefault = (json) => `{"type":"record","name":"d","fields":[{"name":"e","type":{"type":"enum","name":"E","symbols":["A"],"default":${json}}}]}`;
    for (const [json, text] of defaults) {
        assert.throws(() => client.metric({ schema: withDefault(json) }), (error) => error.message.includes(`the default ${text} is not one of its symbols`));
    }
    // JSON has no infinities: a number past f64's range is refused where it stands.
    assert.throws(() => client.metric({ schema: withDefault("1e400") }), { message: "invalid schema: schema: invalid JSON at byte 109: number out of range" });
    const metric = client.metric({ schema: '{"type":"record","name":"d","fields":[{"name":"x","type":"double","default":-1.5e-7},{"name":"y","type":"float","default":1e39}]}' });
    metric.write({});
    await client.close();
});

test("a subscription in Node receives the rows as objects", async () => {
    const { MetricClient } = await import(pathToFileURL(join(project, "default.mjs")));
    const WebSocket = globalThis.WebSocket ?? (await import("ws")).default;
    const collection = unique("npm_live");
    const client = new MetricClient(options());
    const received = [];
    const errors = [];
    const subscription = client.subscribe({
        collections: [collection],
        onRows: (batch) => {
            assert.equal(batch.collection, collection);
            assert.equal(typeof batch.receivedAtMs, "number");
            received.push(...batch.rows);
        },
        onError: (error) => errors.push(error.message),
        WebSocket,
    });
    await subscription.ready;
    const metric = client.metric({ schema: schema(collection) });
    const rows = Array.from({ length: 30 }, (_, seq) => row(seq));
    metric.writeMany(rows);
    await client.flush();
    for (let waited = 0; received.length < rows.length && waited < 5000; waited += 20) await new Promise((ok) => setTimeout(ok, 20));
    subscription.close();
    await client.close();
    assert.deepEqual(errors, []);
    assert.deepEqual(received.sort((a, b) => a.seq - b.seq), rows);
});

test("the browser entry initialises with initSync(module), as in Workers, from the .wasm under each of its names", async () => {
    const installed = join(project, "node_modules/edgemetrics");
    const { initSync, MetricClient } = await import(pathToFileURL(join(installed, "index.js")));
    const resolve = createRequire(join(project, "package.json")).resolve;
    const files = ["edgemetrics/edgemetrics.wasm", "edgemetrics/edgemetrics_bg.wasm", "edgemetrics/grpc-web/edgemetrics_bg.wasm"].map((name) => resolve(name));
    assert.deepEqual(files, files.map(() => join(installed, "dist/edgemetrics.wasm")), "every name is the one module");
    initSync(new WebAssembly.Module(readFileSync(files[1])));
    const collection = unique("npm_initsync");
    const client = new MetricClient(options({ background: false }));
    const metric = client.metric({ schema: schema(collection) });
    metric.write(row(7));
    await client.flush();
    assert.deepEqual(await stored(collection), [row(7)]);
    await client.close();
});

test("the TypeScript declarations type-check the documented usage (tsc --strict)", () => {
    cpSync(join(here, "types"), join(project, "types"), { recursive: true });
    const tsc = join(here, "node_modules/.bin/tsc");
    execFileSync(tsc, ["-p", join(project, "types/tsconfig.json")], { cwd: project, encoding: "utf8" });
});
