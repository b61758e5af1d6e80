// The example Worker (examples/worker, bundled by its build.mjs) in workerd
// through miniflare 4, against the real collector on 127.0.0.1: events
// posted to the Worker are stored as rows equal to them; with the collector
// down the flush fails visibly (502 with the reason, counted, logged).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { Collector, sleep } from "./collector.mjs";
import { startWorker } from "./workerd.mjs";

const FLUSH_TIMEOUT_MS = 2000;
let collector, worker;
const output = [];

before(async () => {
    collector = await new Collector({ token: "worker-token" }).start();
    worker = await startWorker(
        {
            COLLECTOR_URL: collector.url,
            TOKEN: collector.token,
            CLUSTER_ID: "edge-test",
            INSECURE: "true",
            FLUSH_TIMEOUT_MS: String(FLUSH_TIMEOUT_MS),
            MAX_EVENTS: "500",
        },
        output,
    );
});

after(async () => {
    await worker?.dispose();
    await collector?.stop();
});

const session = () => `s-${Math.random().toString(16).slice(2, 10)}`;

async function post(events, query = "?wait=1", body = JSON.stringify({ events })) {
    const response = await worker.dispatchFetch(`http://worker.test/events${query}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
    });
    return { status: response.status, body: await response.json() };
}

const workerStats = async () => (await worker.dispatchFetch("http://worker.test/stats")).json();

async function rowsOf(sessionId) {
    return (await collector.rows("edgeEvents")).filter((row) => row.session === sessionId);
}

/** `count` events of one session, with values that exercise the types. */
function events(count, sessionId) {
    return Array.from({ length: count }, (_, i) => ({
        name: ["click", "view", "purchase", "größe ✓"][i % 4],
        path: `/page/${i}?q="x"`,
        value: i % 3 === 0 ? -i * 1.25 : i / 7,
        session: sessionId,
        time_ms: 1_700_000_000_000 + i * 1001,
    }));
}

test("events posted to the Worker are stored as rows equal to them", async () => {
    const id = session();
    const sent = events(120, id);
    const answer = await post(sent);
    const posted = JSON.parse(JSON.stringify(sent)); // as it went over the wire (-0 is 0 in JSON)
    assert.deepEqual(answer, { status: 200, body: { accepted: 120, stored: 120 } });
    const rows = await rowsOf(id);
    assert.equal(rows.length, sent.length);
    rows.forEach((row, i) => {
        const { name, path, value, session, time_ms, country, colo, _cluster_id } = row;
        assert.deepEqual(
            { name, path, value, session, time_ms, country, colo, _cluster_id },
            { ...posted[i], country: "NL", colo: "AMS", _cluster_id: "edge-test" },
            `row ${i}`,
        );
    });
});

test("without ?wait the Worker answers 202 first and the flush completes in ctx.waitUntil", async () => {
    const id = session();
    const answer = await post(events(30, id), "");
    assert.deepEqual(answer, { status: 202, body: { accepted: 30 } });
    const deadline = Date.now() + 5000;
    let rows = [];
    while (rows.length < 30 && Date.now() < deadline) {
        await sleep(50);
        rows = await rowsOf(id);
    }
    assert.equal(rows.length, 30);
});

test("an event that does not fit the schema is refused by field, and nothing of its request is stored", async () => {
    const id = session();
    const sent = events(3, id);
    sent[2].value = "fast";
    const before = await workerStats();
    const answer = await post(sent);
    assert.equal(answer.status, 400);
    assert.equal(answer.body.field, "value");
    assert.equal(answer.body.index, 2);
    assert.match(answer.body.error, /value/);
    assert.equal((await workerStats()).rowsAccepted, before.rowsAccepted);
    await post(events(1, session()));
    assert.deepEqual(await rowsOf(id), []);
});

test("bodies that are not events are refused with the reason", async () => {
    assert.equal((await post(null, "?wait=1", "{not json")).status, 400);
    assert.match((await post(null, "?wait=1", '{"rows": []}')).body.error, /"events"/);
    const tooMany = await post(events(501, session()));
    assert.equal(tooMany.status, 413);
    assert.match(tooMany.body.error, /MAX_EVENTS/);
    const wrongMethod = await worker.dispatchFetch("http://worker.test/events");
    assert.equal(wrongMethod.status, 405);
});

test("a collector that comes back within the flush window gets the rows (retried inside the request)", async () => {
    const before = await workerStats();
    await collector.stop();
    const id = session();
    const pending = post(events(10, id));
    await sleep(300);
    await collector.start();
    const answer = await pending;
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal((await rowsOf(id)).length, 10);
    assert.ok((await workerStats()).retries > before.retries, "the flush retried");
});

test("with the collector down the flush fails visibly: 502 with the reason, counted and logged", async () => {
    const before = await workerStats();
    await collector.stop();
    try {
        const started = Date.now();
        const answer = await post(events(7, session()));
        assert.equal(answer.status, 502);
        assert.equal(answer.body.undelivered, 7);
        assert.match(answer.body.error, /7 of 7 rows not delivered/);
        assert.match(answer.body.error, new RegExp(`127\\.0\\.0\\.1:${collector.port}`));
        assert.equal(answer.body.stats.rowsAcked, 0);
        assert.ok(answer.body.stats.retries > 0);
        assert.ok(Date.now() - started >= FLUSH_TIMEOUT_MS - 100, "it retried for FLUSH_TIMEOUT_MS");

        // Without ?wait the caller got 202 already: the failure is logged and counted.
        assert.equal((await post(events(4, session()), "")).status, 202);
        let after = await workerStats();
        for (const deadline = Date.now() + FLUSH_TIMEOUT_MS + 3000; after.flushesFailed < before.flushesFailed + 2; ) {
            assert.ok(Date.now() < deadline, "the background flush failure was counted");
            await sleep(100);
            after = await workerStats();
        }
        assert.equal(after.rowsUndelivered, before.rowsUndelivered + 11);
        assert.match(after.lastError, /4 of 4 rows not delivered/);
        const logged = output.filter((line) => line.includes("edgemetrics flush failed"));
        assert.ok(logged.some((line) => /7 of 7/.test(line)) && logged.some((line) => /4 of 4/.test(line)), output.join("\n"));
    } finally {
        await collector.start();
    }
});

test("a collector that accepts the connection and never answers fails the flush by its timeout", async () => {
    // What a collector that hangs (or dies mid-request) looks like from the Worker.
    const sockets = new Set();
    const hanging = createServer((socket) => sockets.add(socket));
    await new Promise((ok) => hanging.listen(0, "127.0.0.1", ok));
    const lines = [];
    const stuck = await startWorker(
        {
            COLLECTOR_URL: `http://127.0.0.1:${hanging.address().port}`,
            TOKEN: "t",
            CLUSTER_ID: "edge-test",
            INSECURE: "true",
            FLUSH_TIMEOUT_MS: String(FLUSH_TIMEOUT_MS),
        },
        lines,
    );
    try {
        const started = Date.now();
        const response = await stuck.dispatchFetch("http://worker.test/events?wait=1", {
            method: "POST",
            body: JSON.stringify({ events: events(3, session()) }),
        });
        const body = await response.json();
        assert.equal(response.status, 502);
        assert.equal(body.undelivered, 3);
        assert.match(body.error, /no answer within requestTimeoutMs/);
        assert.ok(sockets.size >= 1, "the Worker reached the hanging server");
        assert.ok(Date.now() - started < FLUSH_TIMEOUT_MS + 2000, "it gave up in time");
        assert.ok(lines.some((line) => line.includes("3 of 3 rows not delivered")), lines.join("\n"));
    } finally {
        await stuck.dispose();
        for (const socket of sockets) socket.destroy();
        hanging.close();
    }
});
