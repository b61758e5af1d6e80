#!/usr/bin/env node
// What the npm package costs a page, measured in one run, gzip -9: the
// .wasm plus the JS a bundler makes of each entry (esbuild, minified, code
// splitting as Vite and Rollup do: what `import { MetricClient }` loads at
// once, and beside it the chunk the first `subscribe()` loads), next to
// @opentelemetry/sdk-metrics with its OTLP HTTP exporter bundled the same
// way; then the .wasm's largest functions (from the name section of the
// same optimised module).
//
//   EDGEMETRICS_SIZE_REPORT=1 pkg/build.sh && node scripts/size-report.mjs
//
// (The environment variable makes build.sh keep a copy of the optimised
// module with its names in target/wasm-size/.) Needs tests/browser/js's
// npm packages (scripts/setup-wasm.sh) for esbuild and OpenTelemetry.
// Exits non-zero when the default build is not smaller than OpenTelemetry.
import { readFileSync, existsSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const jsTests = join(root, "tests/browser/js");
const require = createRequire(join(jsTests, "package.json"));
const esbuild = require("esbuild");
const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
const fmt = (n) => n.toLocaleString("en-US");

const wasmOf = (name) => {
    const file = join(root, "pkg/dist", name);
    if (!existsSync(file)) {
        console.error(`${file} is missing: pkg/build.sh`);
        process.exit(1);
    }
    return readFileSync(file);
};

/** The chunks esbuild makes of `source` (a module importing the package), gzip -9 each. */
function bundle(source, nodePaths = []) {
    const dir = mkdtempSync(join(tmpdir(), "size-"));
    try {
        const entry = join(dir, "entry.mjs");
        writeFileSync(entry, source);
        const { outputFiles, metafile } = esbuild.buildSync({
            entryPoints: [entry], bundle: true, minify: true, format: "esm", platform: "browser", splitting: true,
            outdir: join(dir, "out"), write: false, metafile: true, logLevel: "error", nodePaths,
        });
        const key = (file) => relative(process.cwd(), file.path);
        const entryOut = Object.keys(metafile.outputs).find((out) => metafile.outputs[out].entryPoint);
        // What loads at once: the entry chunk and the chunks it imports statically.
        const atOnce = new Set([entryOut]);
        for (const out of atOnce) for (const i of metafile.outputs[out].imports) if (i.kind === "import-statement") atOnce.add(i.path);
        const now = outputFiles.filter((f) => atOnce.has(key(f)));
        const later = outputFiles.filter((f) => !atOnce.has(key(f)));
        const sum = (files, measure) => files.reduce((n, f) => n + measure(f.contents), 0);
        return { raw: sum(now, (c) => c.length), gzip: sum(now, gz), laterGzip: sum(later, gz) };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

const pkg = join(root, "pkg");
const entry = (file) => `import init, { MetricClient } from ${JSON.stringify(join(pkg, file))}; globalThis.x = [init, MetricClient];`;
const builds = [
    ["default (`edgemetrics`)", entry("index.js"), "edgemetrics.wasm"],
    ["gRPC-web (`edgemetrics/grpc-web`)", entry("grpc-web.js"), "edgemetrics.wasm"],
    ["instruments (`edgemetrics/instruments`)", entry("instruments.js"), "edgemetrics-instruments.wasm"],
];
console.log("| build | .wasm gzip | JS at once (minified → gzip) | **total at once, gzip -9** | loaded by the first `subscribe()` |");
console.log("|---|---|---|---|---|");
const totals = {};
for (const [name, source, wasmName] of builds) {
    const wasm = wasmOf(wasmName);
    const js = bundle(source);
    totals[name] = gz(wasm) + js.gzip;
    console.log(`| ${name} | ${fmt(gz(wasm))} B (${fmt(wasm.length)} raw) | ${fmt(js.raw)} → ${fmt(js.gzip)} B | **${fmt(totals[name])} B** | +${fmt(js.laterGzip)} B |`);
}

// OpenTelemetry JS metrics with the OTLP HTTP exporter: a meter provider,
// a periodic reader and two instruments, as a page would set them up.
const otel = bundle(`
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
const exporter = new OTLPMetricExporter({ url: "https://collector.example/v1/metrics" });
export const provider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 200 })] });
const meter = provider.getMeter("web");
export const requests = meter.createCounter("requests");
export const latency = meter.createHistogram("latency_ms");
`, [join(jsTests, "node_modules")]);
const version = (name) => JSON.parse(readFileSync(join(jsTests, "node_modules", name, "package.json"), "utf8")).version;
const otelName = `@opentelemetry/sdk-metrics ${version("@opentelemetry/sdk-metrics")} + exporter-metrics-otlp-http ${version("@opentelemetry/exporter-metrics-otlp-http")}`;
console.log(`| ${otelName} | | ${fmt(otel.raw)} → ${fmt(otel.gzip)} B | **${fmt(otel.gzip)} B** | |`);
const ours = totals[builds[0][0]];
console.log(`\nThe default build is ${fmt(ours)} B, ${((ours / otel.gzip) * 100).toFixed(1)}% of OpenTelemetry's ${fmt(otel.gzip)} B (esbuild ${esbuild.version}).`);

const named = join(root, "target/wasm-size/edgemetrics.wasm");
if (existsSync(named)) {
    console.log("\n.wasm code by function (name section of the same optimised module):\n");
    console.log(execFileSync(process.execPath, [join(root, "scripts/wasm-size.mjs"), named, "--top", "8", "--functions", "16"], { encoding: "utf8" })
        .split("\n").filter((line) => !line.startsWith("target") && line.trim() !== "").join("\n"));
}
if (ours >= otel.gzip) {
    console.error(`the default build (${fmt(ours)} B) is not smaller than OpenTelemetry's (${fmt(otel.gzip)} B)`);
    process.exitCode = 1;
}
