// The client's behaviour against the real collector, as one list of tests
// that runs the same in Node (client.test.mjs) and in headless Chromium
// (browser.test.mjs): rows through each transport arrive equal, bad rows
// and options throw naming the field, nothing is lost while the collector
// restarts, subscriptions receive what a native client writes. Each test
// gets `{ MetricClient, env, WebSocket }`, where `env` has the harness's
// `collector`, `control` and `token` (tests/browser/js/harness.mjs).
import { sample, sampleSchema, sameRows } from "./sample.mjs";

/** Assertions that run in a page as in Node. */
export const check = {
    ok(value, message) {
        if (!value) throw new Error(`expected true: ${message}`);
    },
    equal(actual, expected, message = "") {
        if (!Object.is(actual, expected)) throw new Error(`${message}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    },
    deepEqual(actual, expected, message = "") {
        const a = JSON.stringify(actual);
        const b = JSON.stringify(expected);
        if (a !== b) throw new Error(`${message}:\n  expected ${b}\n  got      ${a}`);
    },
    /** Runs `f`, which must throw an error whose properties include `expected`. */
    throws(f, expected, message = "") {
        let error = null;
        try {
            f();
        } catch (e) {
            error = e;
        }
        check.ok(error instanceof Error, `${message}: throws an Error (got ${error})`);
        for (const [key, value] of Object.entries(expected)) check.equal(error[key], value, `${message}: ${key}`);
        return error;
    },
    async rejects(promise, expected, message = "") {
        let error = null;
        try {
            await promise;
        } catch (e) {
            error = e;
        }
        check.ok(error instanceof Error, `${message}: rejects with an Error (got ${error})`);
        for (const [key, value] of Object.entries(expected)) check.equal(error[key], value, `${message}: ${key}`);
        return error;
    },
};

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const unique = (prefix) => `${prefix}_${Math.random().toString(16).slice(2, 10)}`;
const options = (env, transport, extra = {}) => ({
    apiAddr: env.collector, apiToken: env.token, clusterId: "browser", insecure: true, transport, flushIntervalMs: 50, ...extra,
});

async function control(env, path) {
    const response = await fetch(`${env.control}${path}`, { method: "POST" });
    const text = await response.text();
    check.equal(response.status, 200, `control ${path}: ${text}`);
    return text;
}

/** The rows stored in `collection`; none while the collector has not made it. */
async function storedRows(env, collection) {
    const response = await fetch(`${env.collector}/api/collections/${collection}/rows?limit=10000&token=${env.token}`);
    if (response.status === 404) return [];
    check.equal(response.status, 200, `query rows of ${collection}`);
    return (await response.json()).rows;
}

async function until(what, done, ms = 10000) {
    for (let waited = 0; !(await done()); waited += 50) {
        if (waited > ms) throw new Error(`waited ${ms} ms for ${what}`);
        await sleep(50);
    }
}

/** Writes rows 0..n (half with `write`, half with one `writeMany`), flushes, checks what is stored. */
async function roundTrip({ MetricClient, env }, transport, n, extra = {}) {
    const collection = unique(`${transport.replace("-", "_")}_rows`);
    const client = new MetricClient(options(env, transport, extra));
    const metric = client.metric({ schema: sampleSchema(collection) });
    const rows = Array.from({ length: n }, (_, i) => sample(i));
    for (const row of rows.slice(0, n / 2)) metric.write(row);
    check.equal(metric.writeMany(rows.slice(n / 2)), n - n / 2, "writeMany returns the count");
    await client.flush();
    check.equal(client.stats().rowsAcked, n, "rows acknowledged after flush");
    sameRows(await storedRows(env, collection), rows);
    const report = await client.close();
    check.equal(report.undeliveredRows, 0, "undelivered");
}

/** The collector stops and starts while rows are written: none is lost, each is stored once. */
async function survivesRestart({ MetricClient, env }, transport) {
    const collection = unique(`restart_${transport.replace("-", "_")}`);
    const events = [];
    const client = new MetricClient(options(env, transport, { maxRetryIntervalMs: 400, drainTimeoutMs: 15000, onEvent: (e) => events.push(e) }));
    const metric = client.metric({ schema: sampleSchema(collection) });
    const rows = Array.from({ length: 300 }, (_, i) => sample(i));
    rows.slice(0, 100).forEach((row) => metric.write(row));
    await client.flush();
    await control(env, "/stop");
    for (const [i, row] of rows.slice(100, 200).entries()) {
        metric.write(row);
        if (i % 25 === 0) await sleep(60);
    }
    await sleep(700);
    let stats = client.stats();
    check.ok(stats.retries >= 1, `sends failed and were retried (${stats.retries})`);
    check.equal(stats.rowsAcked, 100, "nothing acknowledged while away");
    check.ok(events.some((e) => e.type === "retry" && e.attempt >= 1 && e.delayMs >= 0 && e.message !== ""), "retry events");
    await control(env, "/start");
    rows.slice(200).forEach((row) => metric.write(row));
    await client.flush();
    stats = client.stats();
    check.equal(stats.rowsAcked, 300, "all acknowledged");
    check.equal(stats.rowsDropped, 0, "none dropped");
    sameRows(await storedRows(env, collection), rows);
    check.equal((await client.close()).undeliveredRows, 0, "undelivered");
}

/** What a subscription told its callbacks, in order. */
function listen(collection, extra = {}) {
    const heard = { subscribed: 0, errors: [], rows: [], clusters: [] };
    const options = {
        collections: [collection],
        onRows: (batch) => {
            check.equal(batch.collection, collection, "the batch's collection");
            check.equal(typeof batch.receivedAtMs, "number", "receivedAtMs");
            heard.rows.push(...batch.rows);
            heard.clusters.push(batch.clusterId);
        },
        onSubscribed: () => heard.subscribed++,
        onError: (e) => {
            check.equal(e.name, "SubscriptionError", "the error's name");
            heard.errors.push({ kind: e.kind, reconnecting: e.reconnecting, message: e.message });
        },
        ...extra,
    };
    return { heard, options };
}

export const tests = {
    "fetch: rows arrive equal (gzip through CompressionStream)": async (t) => {
        // Watches the requests go by (they still go out, unchanged).
        const fetchOf = globalThis.fetch;
        const encodings = [];
        globalThis.fetch = (url, init) => {
            encodings.push(init?.headers?.["content-encoding"] ?? "none");
            return fetchOf(url, init);
        };
        try {
            await roundTrip(t, "fetch", 300);
        } finally {
            globalThis.fetch = fetchOf;
        }
        check.ok(encodings.includes("gzip"), `a gzipped request among ${encodings}`);
    },

    "fetch without compression: rows arrive equal": (t) => roundTrip(t, "fetch", 40, { compression: "none" }),

    "gRPC-web: rows arrive equal": (t) => roundTrip(t, "grpc-web", 300),

    "rows of a client without a background loop go out with flush() and close()": (t) =>
        roundTrip(t, "fetch", 60, { background: false }),

    "5000 rows written in one go are sealed into chunks of maxChunkSize and all arrive": async ({ MetricClient, env }) => {
        const collection = unique("burst");
        const client = new MetricClient(options(env, "fetch"));
        const metric = client.metric({ schema: sampleSchema(collection), maxChunkSize: 4096 });
        const rows = Array.from({ length: 5000 }, (_, i) => sample(i));
        rows.forEach((row) => metric.write(row));
        const stats = client.stats();
        check.equal(stats.rowsWritten, 5000, "rows written");
        check.equal(stats.rowsOpen + stats.rowsSealed, 5000, "every row open or sealed");
        check.ok(stats.chunksSealed >= 50 && stats.bytesSealed / stats.chunksSealed <= 4096, `${stats.chunksSealed} chunks of ${stats.bytesSealed} bytes`);
        await client.flush();
        sameRows(await storedRows(env, collection), rows);
        const after = client.stats();
        check.equal(after.rowsAcked, 5000, "rows acknowledged");
        check.equal(after.chunksAcked, after.chunksSealed, "every chunk acknowledged");
        await client.close();
    },

    "the flush interval sends rows without flush()": async ({ MetricClient, env }) => {
        const collection = unique("interval");
        const client = new MetricClient(options(env, "fetch"));
        const metric = client.metric({ schema: sampleSchema(collection) });
        const rows = Array.from({ length: 5 }, (_, i) => sample(i));
        rows.forEach((row) => metric.write(row));
        let stored = [];
        await until("the rows", async () => (stored = await storedRows(env, collection)).length >= rows.length);
        sameRows(stored, rows);
        await client.close();
    },

    "a bad row throws naming the field and buffers nothing": async ({ MetricClient, env }) => {
        const collection = unique("bad_rows");
        const client = new MetricClient(options(env, "fetch", { flushIntervalMs: 60000 }));
        const metric = client.metric({ schema: sampleSchema(collection) });
        const good = Array.from({ length: 6 }, (_, i) => sample(i));
        good.slice(0, 3).forEach((row) => metric.write(row));
        const bad = { ...sample(100), bytes: "lots" };
        check.throws(() => metric.write(bad), { name: "RowError", field: "bytes", message: 'field "bytes": expected long, found a string' });
        const { host, ...missing } = sample(101);
        check.throws(() => metric.write(missing), { name: "RowError", field: "host", message: 'field "host": missing, and the schema gives no default' });
        check.throws(() => metric.write({ ...sample(102), tags: ["a", 7] }), { name: "RowError", field: "tags[1]" });
        check.throws(() => metric.writeMany([sample(103), sample(104), bad]), {
            name: "RowError", index: 2, field: "bytes", message: 'row 2: field "bytes": expected long, found a string',
        });
        const stats = client.stats();
        check.equal(stats.rowsWritten, 3, "nothing of the bad rows counted");
        check.equal(stats.rowsOpen, 3, "rows open");
        check.equal(stats.bytesSealed, 0, "bytes sealed");
        good.slice(3).forEach((row) => metric.write(row));
        await client.flush();
        sameRows(await storedRows(env, collection), good);
        await client.close();
        check.throws(() => metric.write(good[0]), { name: "ClosedError" }, "after close");
    },

    "options and schemas are refused naming the option or the field": async ({ MetricClient, env }) => {
        check.throws(() => new MetricClient(options(env, "fetch", { flushIntervalMs: -5 })), { name: "OptionError", option: "flushIntervalMs" });
        const transport = check.throws(() => new MetricClient(options(env, "carrier-pigeon")), { name: "OptionError", option: "transport" });
        check.ok(transport.message.includes('"carrier-pigeon" is not a transport'), transport.message);
        check.throws(() => new MetricClient({ ...options(env, "fetch"), colour: "red" }), {
            name: "OptionError", option: "options",
            message: 'option "options": "colour" is not an option; the options are apiAddr, apiToken, clusterId, transport, insecure, '
                + "flushIntervalMs, maxRetryIntervalMs, maxBufferBytes, drainTimeoutMs, requestTimeoutMs, compression, flushOnPageHide, "
                + "background, onEvent",
        });
        const client = new MetricClient(options(env, "fetch"));
        check.throws(() => client.metric({ schema: '{"type":"record","name":"r","fields":[{"name":"a","type":"lung"}]}' }), {
            name: "SchemaError", field: "a", message: 'invalid schema: field "a": unknown type "lung"',
        });
        check.throws(() => client.metric({ schema: sampleSchema("x"), timestampColumn: "host" }), {
            name: "OptionError", option: "timestampColumn", message: 'option "timestampColumn": "host" is already a field of the record',
        });
        check.throws(() => client.metric({ schema: sampleSchema("x"), maxChunkSize: 30 << 20 }), { name: "OptionError", option: "maxChunkSize" });
        check.throws(() => client.metric({ schema: sampleSchema("x"), delivery: "sometimes" }), {
            name: "OptionError", option: "delivery", message: 'option "delivery": "sometimes" is not one of bestEffort, atLeastOnce, exactlyOnce',
        });
        check.throws(() => client.metric({ schema: sampleSchema("x"), delivery: 2 }), {
            name: "OptionError", option: "delivery", message: 'option "delivery": "2" is not one of bestEffort, atLeastOnce, exactlyOnce',
        });
        check.throws(() => client.metric({ schema: sampleSchema("x"), delivery: "ExactlyOnce" }), { name: "OptionError", option: "delivery" });
        const metric = client.metric({ schema: sampleSchema("x"), maxChunkSize: 64 });
        check.throws(() => metric.write({ ...sample(1), host: "h".repeat(100) }), {
            name: "RowError", field: "", message: "row: the encoded row is 130 bytes, more than the max chunk size of 64 bytes",
        });
        await client.close();
    },

    "free() while a flush waits ends the flush with ClosedError, and the client is unusable after": async ({ MetricClient, env }) => {
        // A port nothing listens on: every send fails and is retried.
        const client = new MetricClient(options(env, "fetch", { apiAddr: "http://127.0.0.1:9", background: false, drainTimeoutMs: 5000 }));
        const metric = client.metric({ schema: sampleSchema(unique("freed")) });
        metric.write(sample(1));
        const flushing = client.flush();
        await sleep(50);
        client.free();
        await check.rejects(flushing, { name: "ClosedError" }, "the flush");
        check.throws(() => metric.write(sample(2)), { name: "ClosedError" }, "a write");
        check.throws(() => client.stats(), { name: "ClosedError" }, "stats");
        client.free(); // twice is fine
    },

    "a transport named like an Object property is refused": async ({ MetricClient, env }) => {
        for (const transport of ["constructor", "toString", "__proto__"]) {
            check.throws(() => new MetricClient(options(env, transport)), { name: "OptionError", option: "transport" }, transport);
        }
    },

    "rows the collector refuses are dropped, counted, reported and flush() says so": async ({ MetricClient, env }) => {
        const events = [];
        const client = new MetricClient(options(env, "fetch", { onEvent: (e) => events.push(e) }));
        // A valid Avro schema the collector will not store: a column name it reserves.
        const metric = client.metric({ schema: { type: "record", name: unique("refused"), fields: [{ name: "_chunk_id", type: "long" }] } });
        metric.write({ _chunk_id: 1 });
        const error = await check.rejects(client.flush(), { name: "DroppedError", rows: 1 });
        check.ok(error.reason.startsWith("rejected by the collector: "), error.reason);
        const dropped = events.find((e) => e.type === "dropped");
        check.deepEqual({ reason: dropped?.reason, rows: dropped?.rows, chunks: dropped?.chunks }, { reason: "rejected", rows: 1, chunks: 1 }, "the event");
        check.equal(client.stats().rowsDroppedRejected, 1, "counted");
        await client.close();
    },

    "fetch loses no rows when the collector restarts": (t) => survivesRestart(t, "fetch"),

    "each delivery reaches the wire: only exactlyOnce (the default) sends a chunk id": async ({ MetricClient, env }) => {
        const client = new MetricClient(options(env, "fetch"));
        const ids = {};
        for (const delivery of [undefined, "exactlyOnce", "atLeastOnce", "bestEffort"]) {
            const collection = unique(`delivery_${delivery ?? "default"}`);
            const metric = client.metric({ schema: sampleSchema(collection), ...(delivery && { delivery }) });
            metric.writeMany([sample(1), sample(2)]);
            await client.flush();
            const stored = await storedRows(env, collection);
            sameRows(stored, [sample(1), sample(2)]);
            ids[delivery ?? "default"] = stored.every((row) => row._chunk_id !== null);
            check.ok(stored.every((row) => (row._chunk_id !== null) === ids[delivery ?? "default"]), "one chunk");
        }
        check.deepEqual(ids, { default: true, exactlyOnce: true, atLeastOnce: false, bestEffort: false }, "rows stored with a chunk id");
        await client.close();
    },

    "bestEffort: rows sent while the collector is down are dropped, counted and never retried": async ({ MetricClient, env }) => {
        const collection = unique("best_effort");
        const events = [];
        const client = new MetricClient(options(env, "fetch", { onEvent: (e) => events.push(e) }));
        const metric = client.metric({ schema: sampleSchema(collection), delivery: "bestEffort" });
        const rows = Array.from({ length: 300 }, (_, i) => sample(i));
        metric.writeMany(rows.slice(0, 100));
        await client.flush();
        await control(env, "/stop");
        try {
            for (const part of [rows.slice(100, 150), rows.slice(150, 200)]) {
                metric.writeMany(part);
                await sleep(120);
            }
            await until("the sends to fail", () => client.stats().rowsDroppedBestEffort === 100);
            const stats = client.stats();
            check.equal(stats.retries, 0, "nothing retried");
            check.equal(stats.chunksSent, stats.chunksSealed, "one attempt per chunk");
            check.deepEqual([stats.rowsPending, stats.bytesPending, stats.rowsDropped], [0, 0, 100], "no memory held, counted");
            const dropped = events.filter((e) => e.type === "dropped");
            check.ok(dropped.every((e) => e.reason === "best_effort" && e.collection === collection), JSON.stringify(dropped));
            check.equal(dropped.reduce((sum, e) => sum + e.rows, 0), 100, "the events' rows");
        } finally {
            await control(env, "/start");
        }
        metric.writeMany(rows.slice(200));
        await client.flush();
        sameRows(await storedRows(env, collection), [...rows.slice(0, 100), ...rows.slice(200)]);
        check.equal(client.stats().rowsAcked, 200, "acknowledged");
        await client.close();
    },

    "gRPC-web loses no rows when the collector restarts": (t) => survivesRestart(t, "grpc-web"),

    "a subscription receives the rows a native client writes": async ({ MetricClient, env, WebSocket }) => {
        const collection = unique("live");
        const client = new MetricClient(options(env, "fetch"));
        const { heard, options: subscribe } = listen(collection, { WebSocket });
        const subscription = client.subscribe(subscribe);
        await subscription.ready;
        const answer = await control(env, `/native-write?collection=${collection}&rows=120`);
        check.ok(answer.includes("wrote 120 rows"), answer);
        await until("120 rows", () => heard.rows.length >= 120);
        check.deepEqual(heard.errors, [], "errors");
        check.ok(heard.clusters.every((c) => c === "native"), `clusters ${heard.clusters}`);
        sameRows(heard.rows, Array.from({ length: 120 }, (_, i) => sample(i)));
        subscription.close();
        await client.close();
    },

    "a refused subscription says so and does not reconnect": async ({ MetricClient, env, WebSocket }) => {
        const client = new MetricClient(options(env, "fetch", { apiToken: "not-the-token" }));
        const { heard, options: subscribe } = listen(unique("refused"), { WebSocket });
        const subscription = client.subscribe(subscribe);
        const error = await check.rejects(subscription.ready, { name: "SubscriptionError", kind: "refused", reconnecting: false });
        check.ok(error.message.includes("refused by the collector"), error.message);
        await sleep(1200); // two reconnects at the first backoff, were there any
        check.equal(heard.subscribed, 0, "never subscribed");
        check.deepEqual(heard.errors.map((e) => [e.kind, e.reconnecting]), [["refused", false]], "errors");
        subscription.close();
        await client.close();
    },

    "a subscription reconnects after the collector restarts and says when": async ({ MetricClient, env, WebSocket }) => {
        const collection = unique("resubscribed");
        const client = new MetricClient(options(env, "fetch"));
        const { heard, options: subscribe } = listen(collection, { WebSocket });
        const subscription = client.subscribe(subscribe);
        await subscription.ready;
        check.equal(heard.subscribed, 1, "subscribed once");
        await control(env, "/stop");
        await until("the drop to be reported", () => heard.errors.length > 0);
        await control(env, "/start");
        await until("the second confirmation", () => heard.subscribed === 2);
        for (const e of heard.errors) {
            check.deepEqual([e.kind, e.reconnecting], ["disconnected", true], e.message);
            check.ok(e.message.includes("reconnecting in"), e.message);
        }
        await control(env, `/native-write?collection=${collection}&rows=40`);
        await until("the rows written after the restart", () => heard.rows.length >= 40);
        sameRows(heard.rows, Array.from({ length: 40 }, (_, i) => sample(i)));
        subscription.close();
        await subscription.ready; // stays resolved once subscribed
        await client.close();
    },

    "this client and the native one send one schema text however it is spelt": async ({ MetricClient, env }) => {
        const collection = unique("spelt");
        const stored = async () => {
            const response = await fetch(`${env.collector}/api/collections?token=${env.token}`);
            check.equal(response.status, 200, "list collections");
            return (await response.json()).collections.find((c) => c.name === collection)?.schema;
        };
        await control(env, `/native-write?collection=${collection}&rows=10`);
        const wire = `{"name":"${collection}","type":"record","fields":[{"name":"host","type":"string"},`
            + '{"name":"seq","type":"long"},{"name":"bytes","type":"long"},{"name":"ratio","type":"double"},'
            + '{"name":"ok","type":"boolean"},{"name":"tags","type":{"type":"array","items":"string"}},'
            + '{"name":"note","type":["null","string"],"default":null},'
            + '{"name":"level","type":{"name":"Level","type":"enum","symbols":["debug","info","warn"]}}]}';
        check.equal(await stored(), wire, "the native client's chunks");
        // The same schema with docs, spacing, keys in another order and primitives as objects.
        const spelt = JSON.parse(sampleSchema(collection));
        spelt.doc = "sample rows";
        spelt.fields = spelt.fields.map((f) => ({ doc: `the ${f.name}`, ...f, type: typeof f.type === "string" ? { type: f.type } : f.type }));
        const client = new MetricClient(options(env, "fetch"));
        client.metric({ schema: JSON.stringify(spelt, null, 2) }).write(sample(10));
        await client.flush();
        check.equal(await stored(), wire, "after this client's chunk, the same text");
        check.equal((await storedRows(env, collection)).length, 11, "rows of both clients");
        await client.close();
    },

    "a subscription to some clusters receives only their rows": async ({ MetricClient, env, WebSocket }) => {
        const collection = unique("from_east");
        const client = new MetricClient(options(env, "fetch"));
        const { heard, options: subscribe } = listen(collection, { WebSocket, clusters: ["east"] });
        const subscription = client.subscribe(subscribe);
        await subscription.ready;
        // West writes first: had its rows got through, they would come first.
        for (const [cluster, rows] of [["west", 10], ["east", 20]]) {
            const answer = await control(env, `/native-write?collection=${collection}&rows=${rows}&cluster=${cluster}`);
            check.ok(answer.includes(`wrote ${rows} rows`), answer);
        }
        await until("the rows east wrote", () => heard.rows.length >= 20);
        sameRows(heard.rows, Array.from({ length: 20 }, (_, i) => sample(i)));
        check.ok(heard.clusters.every((c) => c === "east"), `clusters ${heard.clusters}`);
        subscription.close();
        check.throws(() => client.subscribe({ ...subscribe, clusters: ["no spaces"] }), { name: "OptionError", option: "clusters" });
        await client.close();
    },
};
