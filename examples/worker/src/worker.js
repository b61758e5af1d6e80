// A Cloudflare Worker that takes events over HTTP and sends them to the
// edgemetrics collector as typed rows.
//
//   POST /events          {"events": [...]}  → 202, rows flushed in ctx.waitUntil
//   POST /events?wait=1   the same, answering only once the collector
//                         acknowledged them (200) or the flush failed (502)
//   GET  /stats           this isolate's counters (flushes failed, rows undelivered, last error)
//
// One MetricClient per request, with `background: false`: nothing runs
// between requests (no timers outlive one), and the request's own
// `flush()` does the sending and retrying, inside `ctx.waitUntil`.
import { initSync, MetricClient } from "edgemetrics";
// workerd cannot compile wasm from bytes at run time: the module is
// imported as a module (a CompiledWasm rule) and instantiated synchronously.
import wasm from "edgemetrics/edgemetrics.wasm";
import { readConfig, ConfigError } from "./config.js";
import { EVENTS_SCHEMA, readEvents, BadRequest } from "./events.js";

initSync(wasm);

/** What this isolate did; isolates are many and short-lived, so these are per isolate. */
const counters = {
    requests: 0,
    rowsAccepted: 0,
    rowsStored: 0,
    flushesOk: 0,
    flushesFailed: 0,
    rowsUndelivered: 0,
    retries: 0,
    lastError: null,
};

export default {
    async fetch(request, env, ctx) {
        const url = new URL(request.url);
        if (request.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS });
        if (url.pathname === "/stats" && request.method === "GET") return json(200, counters);
        if (url.pathname !== "/events") return json(404, { error: `no route ${url.pathname}; POST /events` });
        if (request.method !== "POST") return json(405, { error: "use POST" }, { allow: "POST, OPTIONS" });
        counters.requests++;
        try {
            return await ingest(request, env, ctx, url.searchParams.has("wait"));
        } catch (error) {
            if (error instanceof BadRequest) return json(error.status, { error: error.message, ...error.details });
            if (error instanceof ConfigError) return json(500, { error: error.message });
            throw error;
        }
    },
};

async function ingest(request, env, ctx, wait) {
    const config = readConfig(env);
    const rows = await readEvents(request, config);
    const client = new MetricClient({
        apiAddr: config.collectorUrl,
        apiToken: config.token,
        clusterId: config.clusterId,
        insecure: config.insecure,
        background: false,
        flushOnPageHide: false,
        drainTimeoutMs: config.flushTimeoutMs,
        // Two attempts fit in the window even when the collector hangs.
        requestTimeoutMs: Math.max(50, Math.floor(config.flushTimeoutMs / 2)),
        maxRetryIntervalMs: config.maxRetryIntervalMs,
        // CPU time is what a Worker's plan limits: gzip of a 4 KB body costs
        // about 0.55 ms in workerd (README, "Measured"); bytes to the collector are cheap.
        compression: "none",
    });
    const events = client.metric({ schema: EVENTS_SCHEMA });
    try {
        // All rows or none: a bad one throws a RowError naming its index and field.
        events.writeMany(rows);
    } catch (error) {
        events.free();
        client.free();
        if (error.name === "RowError") {
            throw new BadRequest(400, error.message, { index: error.index, field: error.field });
        }
        throw error;
    }
    counters.rowsAccepted += rows.length;
    const delivery = deliver(client, events, rows.length);
    // The flush goes on after the response is sent (and if the caller hangs up).
    ctx.waitUntil(delivery);
    if (!wait) return json(202, { accepted: rows.length });
    const outcome = await delivery;
    if (outcome.ok) return json(200, { accepted: rows.length, stored: rows.length });
    return json(502, { error: outcome.error, accepted: rows.length, undelivered: outcome.undelivered, stats: outcome.stats });
}

/** Flushes, counts how it went, logs a failure, and releases the client's wasm memory. */
async function deliver(client, metric, rows) {
    try {
        await client.flush();
        counters.flushesOk++;
        counters.rowsStored += rows;
        return { ok: true };
    } catch (error) {
        const stats = client.stats();
        const undelivered = error.pendingRows ?? error.rows ?? stats.rowsPending;
        const message = `edgemetrics flush failed, ${undelivered} of ${rows} rows not delivered: ${error.message}`;
        counters.flushesFailed++;
        counters.rowsUndelivered += undelivered;
        counters.lastError = message;
        console.error(message);
        return { ok: false, error: message, undelivered, stats };
    } finally {
        counters.retries += client.stats().retries;
        metric.free();
        client.free();
    }
}

const CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "POST, GET, OPTIONS",
    "access-control-allow-headers": "content-type",
    "access-control-max-age": "86400",
};

function json(status, body, headers = {}) {
    return new Response(JSON.stringify(body), {
        status,
        headers: { "content-type": "application/json", ...CORS, ...headers },
    });
}
