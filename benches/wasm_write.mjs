#!/usr/bin/env node
// `metric.write(row)` throughput from JavaScript, JS-to-wasm crossing
// included, against avsc on the same rows in the same run, with the bytes
// checked equal first; in Node, and with --browser in headless Chromium
// (playwright-core driving /usr/bin/chromium) as well. The row is
// castai/metrics' containerMetrics record (as in benches/encode.rs); the
// body is benches/wasm_write_run.mjs.
//
//   node benches/wasm_write.mjs [--browser] [--rows 1000] [--rounds 300]
//
// Needs pkg/dist (pkg/build.sh) and tests/browser/js/node_modules (avsc,
// esbuild, playwright-core; scripts/setup-wasm.sh). Rows are written
// between untimed flushes to an in-process HTTP server that keeps the
// bodies, so the timing is of `write` alone, chunk sealing included.
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { bench } from "./wasm_write_run.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const jsTests = join(root, "tests/browser/js");
const require = createRequire(join(jsTests, "package.json"));
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const ROWS = Number(option("--rows", 1000));
const ROUNDS = Number(option("--rounds", 300));

// The collector's part, in process: keep the Avro bytes of each chunk.
// WriteMetricsBatchRequest { repeated WriteMetricsRequest chunks = 1 },
// WriteMetricsRequest { bytes metrics = 2, ... }.
let received = [];
function fields(bytes, visit) {
    let pos = 0;
    const varint = () => {
        let value = 0, shift = 0, byte;
        do {
            byte = bytes[pos++];
            value += (byte & 0x7f) * 2 ** shift;
            shift += 7;
        } while (byte & 0x80);
        return value;
    };
    while (pos < bytes.length) {
        const key = varint();
        const wire = key & 7;
        if (wire === 0) varint();
        else if (wire === 1) pos += 8;
        else if (wire === 5) pos += 4;
        else {
            const len = varint();
            visit(key >> 3, bytes.subarray(pos, pos + len));
            pos += len;
        }
    }
}
const takeCaptured = () => {
    const all = Buffer.concat(received);
    received = [];
    return all;
};
let page = null; // { html, modules } in --browser mode
const server = createServer(async (request, response) => {
    const url = new URL(request.url, "http://bench");
    // Cross-origin isolated, so that performance.now() is fine-grained.
    const isolated = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };
    if (request.method === "POST" && url.pathname === "/v1/metrics") {
        const parts = [];
        for await (const part of request) parts.push(part);
        fields(Buffer.concat(parts), (field, chunk) => field === 1 && fields(chunk, (f, v) => f === 2 && received.push(Buffer.from(v))));
        response.writeHead(200, { "content-type": "application/x-protobuf" }).end(Buffer.from([0x08, 0x01]));
    } else if (url.pathname === "/captured") {
        response.writeHead(200, { "content-type": "application/octet-stream", ...isolated }).end(takeCaptured());
    } else if (page && url.pathname === "/") {
        response.writeHead(200, { "content-type": "text/html", ...isolated }).end(page.html);
    } else if (page && page.modules[url.pathname]) {
        response.writeHead(200, { "content-type": "text/javascript", ...isolated }).end(page.modules[url.pathname]);
    } else if (page && url.pathname.startsWith("/pkg/")) {
        try {
            const body = await readFile(join(root, "pkg", url.pathname.slice(5)));
            const type = url.pathname.endsWith(".wasm") ? "application/wasm" : "text/javascript";
            response.writeHead(200, { "content-type": type, ...isolated }).end(body);
        } catch {
            response.writeHead(404).end();
        }
    } else {
        response.writeHead(404).end();
    }
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const apiAddr = `127.0.0.1:${server.address().port}`;

function print(where, { bytes, results }) {
    console.log(`${where}: containerMetrics, ${ROWS} rows x ${ROUNDS} rounds; bytes equal (${bytes} bytes per ${ROWS} rows)`);
    for (const [name, { median, best }] of Object.entries(results)) {
        console.log(`  ${name.padEnd(30)} ${median.toFixed(1).padStart(7)} ns/row median  ${best.toFixed(1).padStart(7)} best  ${(1e3 / median).toFixed(2).padStart(6)} M rows/s`);
    }
}

const { MetricClient } = await import(pathToFileURL(join(root, "pkg/node.js")));
const nodeResult = await bench({
    MetricClient, avro: require("avsc"), apiAddr, rows: ROWS, rounds: ROUNDS,
    captured: async () => takeCaptured(),
    now: () => Number(process.hrtime.bigint()),
    toBytes: (buffer) => buffer,
});
print(`Node ${process.version}`, nodeResult);

if (args.includes("--browser")) {
    // avsc for the page: its browser build, with the `buffer` package for
    // Node's Buffer and a few lines for the `util` functions it uses.
    const esbuild = require("esbuild");
    const util = "export function inherits(c, p) { Object.setPrototypeOf(c.prototype, p.prototype); Object.setPrototypeOf(c, p); }"
        + " export function format(...a) { return a.join(' '); } export function debuglog() { return () => {}; }"
        + " export function deprecate(f) { return f; } export default { inherits, format, debuglog, deprecate };";
    const avsc = (await esbuild.build({
        stdin: { contents: "export { default } from 'avsc/etc/browser/avsc-types.js';", resolveDir: jsTests },
        bundle: true, format: "esm", platform: "browser", write: false, logLevel: "error", minify: true,
        plugins: [{
            name: "node-builtins",
            setup(build) {
                build.onResolve({ filter: /^util$/ }, () => ({ path: "util", namespace: "shim" }));
                build.onLoad({ filter: /.*/, namespace: "shim" }, () => ({ contents: util, loader: "js" }));
                build.onResolve({ filter: /^buffer$/ }, () => ({ path: require.resolve("buffer/") }));
            },
        }],
    })).outputFiles[0].text;
    page = {
        modules: { "/avsc.js": avsc, "/run.js": await readFile(join(root, "benches/wasm_write_run.mjs")) },
        html: `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module">
            import init, { MetricClient } from "/pkg/index.js";
            import avro from "/avsc.js";
            import { bench } from "/run.js";
            await init();
            const captured = async () => new Uint8Array(await (await fetch("/captured")).arrayBuffer());
            window.result = await bench({ MetricClient, avro, apiAddr: location.host, rows: ${ROWS}, rounds: ${ROUNDS}, captured,
                now: () => performance.now() * 1e6, toBytes: (b) => new Uint8Array(b.buffer, b.byteOffset, b.length) })
                .catch((error) => ({ error: String(error) }));
        </script>`,
    };
    const { chromium } = require("playwright-core");
    const { launchChromium } = await import(new URL("../tests/chromium.mjs", import.meta.url));
    const browser = await launchChromium(chromium);
    const tab = await browser.newPage();
    await tab.goto(`http://${apiAddr}/`);
    const isolated = await tab.evaluate(() => crossOriginIsolated);
    await tab.waitForFunction(() => window.result !== undefined, null, { timeout: 600_000 });
    const result = await tab.evaluate(() => window.result);
    const version = browser.version();
    await browser.close();
    if (result.error) {
        console.error(`Chromium: ${result.error}`);
        process.exitCode = 1;
    } else {
        print(`Chromium ${version}${isolated ? "" : " (not cross-origin isolated: coarse clock)"}`, result);
    }
}
server.close();
