#!/usr/bin/env node
// What the npm package costs a page, measured in one run: gzip -9 bytes of
// each build's .wasm plus its JS (wasm-bindgen glue, entry module and
// fast-write.js), the .wasm's breakdown by crate (from the name section of
// the same optimised module), and beside it @opentelemetry/sdk-metrics with
// its OTLP HTTP exporter bundled and minified by esbuild for the browser.
//
//   EDGEMETRICS_SIZE_REPORT=1 pkg/build.sh && node scripts/size-report.mjs
//
// (The environment variable makes build.sh keep a copy of each optimised
// module with its names in target/wasm-size/.) Needs tests/browser/js's
// npm packages (scripts/setup-wasm.sh) for esbuild and OpenTelemetry.
import { readFileSync, existsSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const jsTests = join(root, "tests/browser/js");
const require = createRequire(join(jsTests, "package.json"));
const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
const kb = (n) => `${(n / 1000).toFixed(1)} KB`;

const builds = [
    { name: "default (fetch + WebSocket)", dir: "default", entry: "index.js" },
    { name: "grpc-web (fetch + WebSocket + gRPC-web)", dir: "grpc-web", entry: "grpc-web.js" },
];
console.log("| build | .wasm | JS (glue + entry + fast-write.js) | total gzip -9 |");
console.log("|---|---|---|---|");
const totals = {};
for (const build of builds) {
    const wasmFile = join(root, "pkg/dist", build.dir, "edgemetrics_bg.wasm");
    if (!existsSync(wasmFile)) {
        console.log(`| ${build.name} | not built (pkg/build.sh) | | |`);
        continue;
    }
    const wasm = readFileSync(wasmFile);
    // The JS a page loads, minified as a bundler would.
    const esbuild = require("esbuild");
    const bundle = esbuild.buildSync({
        entryPoints: [join(root, "pkg", build.entry)], bundle: true, minify: true, format: "esm",
        platform: "browser", write: false, logLevel: "error",
    }).outputFiles[0].contents;
    totals[build.dir] = gz(wasm) + gz(bundle);
    console.log(`| ${build.name} | ${wasm.length} B raw, ${kb(gz(wasm))} gzip | ${bundle.length} B minified, ${kb(gz(bundle))} gzip | **${kb(totals[build.dir])}** |`);
}

// OpenTelemetry JS metrics with the OTLP HTTP exporter: a meter provider,
// a periodic reader and two instruments, as a page would set them up.
const dir = mkdtempSync(join(tmpdir(), "otel-size-"));
const entry = join(dir, "otel.mjs");
writeFileSync(entry, `
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
const exporter = new OTLPMetricExporter({ url: "https://collector.example/v1/metrics" });
export const provider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 200 })] });
const meter = provider.getMeter("web");
export const requests = meter.createCounter("requests");
export const latency = meter.createHistogram("latency_ms");
`);
const otel = require("esbuild").buildSync({
    entryPoints: [entry], bundle: true, minify: true, format: "esm", platform: "browser", write: false,
    nodePaths: [join(jsTests, "node_modules")], logLevel: "error",
}).outputFiles[0].contents;
rmSync(dir, { recursive: true, force: true });
const version = (name) => JSON.parse(readFileSync(join(jsTests, "node_modules", name, "package.json"), "utf8")).version;
console.log(`| @opentelemetry/sdk-metrics ${version("@opentelemetry/sdk-metrics")} + exporter-metrics-otlp-http ${version("@opentelemetry/exporter-metrics-otlp-http")} (esbuild --minify, browser) | | ${otel.length} B minified | **${kb(gz(otel))}** |`);

for (const build of builds) {
    const named = join(root, "target/wasm-size", `${build.dir}.wasm`);
    if (!existsSync(named)) continue;
    console.log(`\n${build.name}: .wasm code by crate (name section of the same optimised module)\n`);
    console.log(execFileSync(process.execPath, [join(root, "scripts/wasm-size.mjs"), named, "--top", "14"], { encoding: "utf8" })
        .split("\n").filter((line) => !line.startsWith("target") && line.trim() !== "").join("\n"));
}
