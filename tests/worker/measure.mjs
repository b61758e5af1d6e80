// CPU time and wall time per request of the example Worker in workerd.
//
// Inside a Worker the clocks stand still while code runs (Spectre
// mitigation: Date.now() and performance.now() move only on I/O), and
// local workerd reports `cpuTime: 0` to tail Workers, so the Worker cannot
// time itself. Measured from outside instead: the CPU time the workerd
// process spends (the sum over its threads of /proc/<pid>/task/*/schedstat,
// nanoseconds; utime+stime as a check) across N sequential requests, minus
// the same for a baseline Worker that answers the same request — reads and
// parses the JSON body, answers 202 — without the SDK. The difference is
// what the SDK adds: building the client, validating and encoding the rows,
// the POST to the collector and its answer (`?wait=1`, so each request's
// flush is inside its own measurement). Wall time is per request, seen from
// Node (dispatchFetch), collector round trip included.
//
//   node tests/worker/measure.mjs [--requests N] [--events 1,10,100]
// (the bundle from examples/worker/build.mjs; the collector binary from
// EDGEMETRICS_COLLECTOR_BIN or target/debug — a release build is closer to
// production for the wall times; it does not change the Worker's CPU.)
import { readdirSync, readFileSync } from "node:fs";
import { Miniflare } from "miniflare";
import { Collector } from "./collector.mjs";
import { startWorker } from "./workerd.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const REQUESTS = Number(option("--requests", "500"));
const WARMUP = Math.max(50, REQUESTS / 5);
const SIZES = option("--events", "1,10,100").split(",").map(Number);

/** Reads and parses the body, answers 202: the request without the SDK. */
const BASELINE = `export default {
    async fetch(request) {
        const body = JSON.parse(await request.text());
        return new Response(JSON.stringify({ accepted: body.events.length }), { status: 202 });
    },
};`;

/** The same plus one subrequest to the collector (GET /healthz): the cost of a fetch alone. */
const FETCH_BASELINE = `export default {
    async fetch(request, env) {
        const body = JSON.parse(await request.text());
        const health = await fetch(env.COLLECTOR_URL + "/healthz");
        await health.text();
        return new Response(JSON.stringify({ accepted: body.events.length }), { status: 202 });
    },
};`;

/** The workerd processes started by this process (miniflare's children). */
function workerdPids() {
    const pids = [];
    for (const entry of readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
            const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
            if (Number(fields[1]) === process.pid && stat.includes("(workerd)")) pids.push(Number(entry));
        } catch {
            // gone meanwhile
        }
    }
    if (pids.length !== 1) throw new Error(`expected one workerd child, found ${pids.length}`);
    return pids[0];
}

/** CPU nanoseconds of a process: schedstat summed over threads, and utime+stime. */
function cpu(pid) {
    let sched = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
        try {
            sched += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
        } catch {
            // thread ended
        }
    }
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { sched, ticks: ticks * (1e9 / 100) };
}

function body(events) {
    const rows = Array.from({ length: events }, (_, i) => ({
        name: "view",
        path: `/products/${i}`,
        value: 12.5 + i,
        session: "s-1234",
        time_ms: 1_700_000_000_000 + i,
    }));
    return JSON.stringify({ events: rows });
}

/** Per request: workerd CPU (ms, two ways) and wall time quantiles (ms). */
async function run(mf, events) {
    const payload = body(events);
    const request = async () => {
        const response = await mf.dispatchFetch("http://worker.test/events?wait=1", { method: "POST", body: payload });
        await response.text();
        if (response.status >= 300) throw new Error(`HTTP ${response.status}`);
    };
    for (let i = 0; i < WARMUP; i++) await request();
    const pid = workerdPids();
    const walls = [];
    const before = cpu(pid);
    for (let i = 0; i < REQUESTS; i++) {
        const started = process.hrtime.bigint();
        await request();
        walls.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    const after = cpu(pid);
    walls.sort((a, b) => a - b);
    return {
        cpuMs: (after.sched - before.sched) / 1e6 / REQUESTS,
        cpuTicksMs: (after.ticks - before.ticks) / 1e6 / REQUESTS,
        wallP50: walls[Math.floor(REQUESTS / 2)],
        wallP90: walls[Math.floor(REQUESTS * 0.9)],
    };
}

/** workerd CPU of the first request of a fresh isolate (1 event). */
async function firstRequestCpu(start) {
    const mf = await start();
    const pid = workerdPids();
    const before = cpu(pid);
    const response = await mf.dispatchFetch("http://worker.test/events?wait=1", { method: "POST", body: body(1) });
    await response.text();
    const after = cpu(pid);
    await mf.dispose();
    return (after.sched - before.sched) / 1e6;
}

const bindings = (collector) => ({
    COLLECTOR_URL: collector.url,
    TOKEN: collector.token,
    CLUSTER_ID: "measure",
    INSECURE: "true",
});

const collector = await new Collector({ token: "measure-token" }).start();
try {
    const plain = (script) => async () => {
        const mf = new Miniflare({ modules: true, script, compatibilityDate: "2025-06-01", bindings: bindings(collector) });
        await mf.ready;
        return mf;
    };
    const workers = { sdk: () => startWorker(bindings(collector)), baseline: plain(BASELINE), fetch: plain(FETCH_BASELINE) };
    // The first request of a fresh isolate, five times each: the median.
    const cold = {};
    for (const [name, start] of Object.entries(workers)) {
        const runs = [];
        for (let i = 0; i < 5; i++) runs.push(await firstRequestCpu(start));
        cold[name] = runs.sort((a, b) => a - b)[2];
    }
    const results = [];
    for (const events of SIZES) {
        const row = { events };
        for (const [name, start] of Object.entries(workers)) {
            const mf = await start();
            row[name] = await run(mf, events);
            await mf.dispose();
        }
        results.push(row);
    }
    const f = (n) => n.toFixed(2).padStart(6);
    console.log(`workerd CPU per request (ms), ${REQUESTS} sequential requests after ${WARMUP} warm-up, ?wait=1`);
    console.log("events | Worker CPU (ticks) | no SDK | no SDK + 1 fetch | SDK - no SDK | SDK - fetch | wall p50 / p90 | no-SDK wall p50");
    for (const { events, sdk, baseline, fetch } of results) {
        console.log(
            `${String(events).padStart(6)} | ${f(sdk.cpuMs)} (${f(sdk.cpuTicksMs)})  | ${f(baseline.cpuMs)} | ${f(fetch.cpuMs)}` +
                `           | ${f(sdk.cpuMs - baseline.cpuMs)}       | ${f(sdk.cpuMs - fetch.cpuMs)}      |` +
                ` ${f(sdk.wallP50)} / ${f(sdk.wallP90)} | ${f(baseline.wallP50)}`,
        );
    }
    console.log(
        `first request of a fresh isolate (1 event, median of 5), workerd CPU: Worker ${f(cold.sdk)}, no SDK ${f(cold.baseline)},` +
            ` no SDK + 1 fetch ${f(cold.fetch)} ms`,
    );
    console.log(JSON.stringify({ requests: REQUESTS, warmup: WARMUP, cold, results }));
} finally {
    await collector.stop();
}
