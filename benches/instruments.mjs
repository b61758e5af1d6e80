#!/usr/bin/env node
// `counter.add` with 4 labels in Node, beside @opentelemetry/sdk-metrics
// in the same run (a meter provider with a reader, as a page would set it
// up), interleaved round by round; and each one's bound form. The
// edgemetrics client has no collector: values stay aggregated in its core.
//
//   node benches/instruments.mjs [--rounds 200] [--adds 10000]
//
// Needs pkg/dist (pkg/build.sh) and tests/browser/js/node_modules
// (scripts/setup-wasm.sh).
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "tests/browser/js/package.json"));
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const ROUNDS = option("--rounds", 200);
const ADDS = option("--adds", 10_000);

const { MetricClient } = await import(pathToFileURL(join(root, "pkg/instruments-node.js")));
const { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } = require("@opentelemetry/sdk-metrics");

const labels = { service: "api", route: "/users", method: "GET", code: "200" };
const client = new MetricClient({ apiAddr: "127.0.0.1:9", apiToken: "t", clusterId: "bench", insecure: true, background: false, flushOnPageHide: false });
const ours = client.counter("requests");
const bound = ours.bind(labels);
const exporter = new InMemoryMetricExporter(AggregationTemporality.DELTA);
const provider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })] });
const otel = provider.getMeter("bench").createCounter("requests");

const contenders = {
    "edgemetrics counter.add (4 labels)": () => {
        for (let i = 0; i < ADDS; i++) ours.add(1, labels);
    },
    "edgemetrics bound add": () => {
        for (let i = 0; i < ADDS; i++) bound.add(1);
    },
    "@opentelemetry/sdk-metrics counter.add (4 attributes)": () => {
        for (let i = 0; i < ADDS; i++) otel.add(1, labels);
    },
};
const samples = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(contenders)) {
        const start = process.hrtime.bigint();
        run();
        samples[name].push(Number(process.hrtime.bigint() - start) / ADDS);
    }
}
const otelVersion = JSON.parse((await import("node:fs")).readFileSync(join(root, "tests/browser/js/node_modules/@opentelemetry/sdk-metrics/package.json"), "utf8")).version;
console.log(`Node ${process.version}, ${ADDS} adds x ${ROUNDS} rounds, @opentelemetry/sdk-metrics ${otelVersion}`);
for (const [name, values] of Object.entries(samples)) {
    const sorted = values.slice(Math.floor(ROUNDS / 5)).sort((a, b) => a - b);
    console.log(`  ${name.padEnd(52)} ${sorted[Math.floor(sorted.length / 2)].toFixed(1).padStart(7)} ns median  ${sorted[0].toFixed(1).padStart(7)} best`);
}
client.free();
await provider.shutdown();
