// The instruments of `edgemetrics/instruments` in a Worker (workerd through
// miniflare 4, the .wasm as a compiled module, no code generation from
// strings): counters and histograms recorded across requests, each flushed
// in its request, arrive at the real collector and read back equal.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { Collector, ROOT } from "./collector.mjs";

const WORKER = `
import { initSync, MetricClient } from "edgemetrics/instruments";
import wasm from "edgemetrics/instruments.wasm";
initSync(wasm);
export default {
    async fetch(request, env) {
        const url = new URL(request.url);
        const client = new MetricClient({
            apiAddr: env.COLLECTOR_URL, apiToken: env.TOKEN, clusterId: "worker-instruments", insecure: true,
            background: false, compression: "none",
        });
        const requests = client.counter("worker.requests", { unit: "1" });
        const latency = client.histogram("worker.latency", { unit: "ms", bounds: [1, 10] });
        requests.add(1, { path: url.pathname, colo: "AMS" });
        latency.record(Number(url.searchParams.get("ms") ?? 0), { path: url.pathname });
        try {
            await client.flush();
            return new Response("ok");
        } catch (error) {
            return new Response(error.message, { status: 502 });
        } finally {
            client.free();
        }
    },
};`;

let collector, worker, dir;
before(async () => {
    collector = await new Collector({ token: "instruments-token" }).start();
    dir = mkdtempSync(join(tmpdir(), "edgemetrics-instruments-worker-"));
    writeFileSync(join(dir, "src.js"), WORKER);
    // The example Worker's esbuild, resolving the package as it does.
    const { build } = createRequire(join(ROOT, "examples/worker/package.json"))("esbuild");
    await build({
        entryPoints: [join(dir, "src.js")], outfile: join(dir, "worker.js"), bundle: true, format: "esm", platform: "browser",
        conditions: ["workerd", "worker", "browser"], nodePaths: [join(ROOT, "examples/worker/node_modules")], logLevel: "error",
        plugins: [{
            name: "wasm-modules",
            setup(b) {
                b.onResolve({ filter: /\.wasm$/ }, () => {
                    copyFileSync(join(ROOT, "pkg/dist/edgemetrics-instruments.wasm"), join(dir, "instruments.wasm"));
                    return { path: "./instruments.wasm", external: true };
                });
            },
        }],
    });
    worker = new Miniflare({
        modules: true, scriptPath: join(dir, "worker.js"), modulesRoot: dir,
        modulesRules: [{ type: "ESModule", include: ["**/*.js"] }, { type: "CompiledWasm", include: ["**/*.wasm"] }],
        compatibilityDate: "2025-06-01",
        bindings: { COLLECTOR_URL: collector.url, TOKEN: collector.token },
    });
    await worker.ready;
});

after(async () => {
    await worker?.dispose();
    await collector?.stop();
    rmSync(dir, { recursive: true, force: true });
});

test("counters and histograms recorded in a Worker arrive at the collector", async () => {
    for (const [path, ms] of [["/a", 0.5], ["/a", 5], ["/b", 50]]) {
        const response = await worker.dispatchFetch(`http://worker.test${path}?ms=${ms}`);
        assert.equal(response.status, 200, await response.text());
    }
    const counters = (await collector.rows("counters")).filter((r) => r.name === "worker.requests");
    const byPath = (rows, path) => rows.filter((r) => r.labels.path === path);
    assert.deepEqual(byPath(counters, "/a").map((r) => [r.value, r.labels.colo, r.temporality]), [[1, "AMS", "delta"], [1, "AMS", "delta"]]);
    assert.deepEqual(byPath(counters, "/b").map((r) => r.value), [1]);
    const histograms = (await collector.rows("histograms")).filter((r) => r.name === "worker.latency");
    const buckets = (path) => byPath(histograms, path).map((r) => r.bucket_counts).sort();
    assert.deepEqual(buckets("/a"), [[0, 1, 0], [1, 0, 0]]);
    assert.deepEqual(buckets("/b"), [[0, 0, 1]]);
    assert.ok(histograms.every((r) => r._cluster_id === "worker-instruments" && r.unit === "ms"));
});
