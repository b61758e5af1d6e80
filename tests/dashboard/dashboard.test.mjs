// The dashboard (www/dist, from www/build.mjs) served by the real collector
// with --www, in headless Chromium (playwright-core driving
// /usr/bin/chromium), while a real native client (examples/writer.rs)
// writes rows: it connects, its chart and latest rows move, its own page
// metrics reach the collector, it says when the collector is away and when
// rows were missed. Screenshots go to target/artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { chromium } from "playwright-core";
import { Collector, ROOT, TARGET, sleep } from "../worker/collector.mjs";
import { launchChromium } from "../chromium.mjs";

const WWW = process.env.EDGEMETRICS_WWW_DIST ?? resolve(ROOT, "www/dist");
const WRITER = process.env.EDGEMETRICS_WRITER_BIN ?? resolve(TARGET, "debug/examples/writer");
const ARTIFACTS = resolve(ROOT, "target/artifacts");

let browser, collector;

before(async () => {
    for (const [path, how] of [[resolve(WWW, "index.html"), "node www/build.mjs"], [WRITER, "cargo build --features native --example writer"]]) {
        assert.ok(existsSync(path), `${path} is missing: ${how}`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    collector = await new Collector({ token: "dash-token", www: WWW }).start();
    browser = await launchChromium(chromium);
});

after(async () => {
    await browser?.close();
    await collector?.stop();
});

/** Opens the dashboard; records every status state it shows, and page errors. */
async function open(target, query = "") {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.addInitScript(() => {
        window.statesSeen = [];
        new MutationObserver(() => {
            const state = document.querySelector("#status")?.dataset.state;
            if (state && window.statesSeen.at(-1) !== state) window.statesSeen.push(state);
        }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"], childList: true });
    });
    await page.goto(`${target.url}/?token=${target.token}${query}`);
    return { page, errors };
}

/** Runs examples/writer.rs against `target`; resolves with its exit code and output. */
function write(target, ...args) {
    const child = spawn(WRITER, ["--addr", target.url, "--token", target.token, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (data) => (output += data));
    child.stderr.on("data", (data) => (output += data));
    return new Promise((ok) => child.on("exit", (code) => ok({ code, output })));
}

const state = (page) => page.getAttribute("#status", "data-state");
const chartPoints = async (page) => Number(await page.getAttribute("#chart", "data-points"));
const firstLatestRow = (page) => page.textContent("#latest tbody tr:first-child");
const panelCount = async (page, name) => Number(await page.getAttribute("#latest-panel", `data-${name}`));

async function until(what, check, timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await check();
        if (value) return value;
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
        await sleep(100);
    }
}

test("the dashboard says it is connecting, then live", async () => {
    const { page, errors } = await open(collector);
    await page.waitForSelector('#status[data-state="live"]', { timeout: 10000 });
    const seen = await page.evaluate(() => window.statesSeen);
    assert.equal(seen[0], "connecting");
    assert.equal(seen.at(-1), "live");
    assert.match(await page.textContent("#status-text"), /^Live — receiving rows of/);
    assert.deepEqual(errors, []);
    await page.close();
});

test("without a token it asks for one; with a wrong one it says it was refused", async () => {
    const page = await browser.newPage();
    await page.goto(`${collector.url}/`);
    await page.waitForSelector('#status[data-state="no-token"]');
    assert.equal(await page.isVisible("#token-form"), true);
    await page.fill('#token-form input[name="token"]', "wrong-token");
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#status[data-state="refused"]', { timeout: 10000 });
    assert.equal(new URL(page.url()).searchParams.get("token"), "wrong-token");
    assert.match(await page.textContent("#status-text"), /^Refused: .*check the token in the address/);
    await page.waitForSelector('[data-notice="token"]');
    await page.close();
});

test("its chart and latest rows change while a native client writes rows; statistics follow", async () => {
    const { page, errors } = await open(collector, "&collection=containerMetrics&field=memory_usage");
    await page.waitForSelector('#status[data-state="live"]');
    const writing = write(collector, "--rows", "12000", "--rate", "2000");

    await until("the first points", async () => (await chartPoints(page)) >= 2);
    const before = { points: await chartPoints(page), row: await firstLatestRow(page), canvas: await page.locator("#chart canvas").screenshot() };
    await sleep(2000);
    const later = { points: await chartPoints(page), row: await firstLatestRow(page), canvas: await page.locator("#chart canvas").screenshot() };
    assert.ok(later.points > before.points, `chart points ${before.points} → ${later.points}`);
    assert.notEqual(later.row, before.row, "the newest row changed");
    assert.ok(!later.canvas.equals(before.canvas), "the chart was redrawn with other data");
    assert.match(later.row, /pod-\d/);

    const { code, output } = await writing;
    assert.equal(code, 0, output);
    // Every row stored was received live (or reported as missed), and the statistics count them all.
    await until("all rows live", async () => (await panelCount(page, "received")) + (await panelCount(page, "missed")) === 12000);
    await until("statistics of 12000 rows", async () =>
        (await page.textContent('#stats tr[data-field="memory_usage"] td:nth-child(2)')).replace(/\D/g, "") === "12000");
    assert.equal(await page.inputValue("#field"), "memory_usage");
    await page.screenshot({ path: resolve(ARTIFACTS, "dashboard.png"), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
});

test("a collection that appears later is followed without interrupting the others", async () => {
    const { page, errors } = await open(collector, "&collection=steadyMetrics&field=cpu_usage");
    await page.waitForSelector('#status[data-state="live"]');
    // A chunk every 5 ms: a resubscription, however quick, would lose some.
    const steady = write(collector, "--collection", "steadyMetrics", "--rows", "10000", "--rate", "2500", "--flush-ms", "5");
    await until("steady rows", async () => (await panelCount(page, "received")) > 1000);
    const { code, output } = await write(collector, "--collection", "lateMetrics", "--rows", "300", "--rate", "0");
    assert.equal(code, 0, output);
    await until("lateMetrics listed", async () => (await page.$('#collections tr[data-name="lateMetrics"]')) !== null);
    const done = await steady;
    assert.equal(done.code, 0, done.output);
    // Not one row of the steady collection was lost while lateMetrics was subscribed to.
    await until("all steady rows live", async () => (await panelCount(page, "received")) + (await panelCount(page, "missed")) === 10000);
    // The open subscription was never closed to take the new collection in.
    assert.deepEqual(await page.evaluate(() => window.statesSeen), ["connecting", "live"]);
    await page.selectOption("#collection", "lateMetrics");
    await until("lateMetrics rows", async () => /pod-\d/.test(await firstLatestRow(page)));
    assert.deepEqual(errors, []);
    await page.close();
});

test("its own page metrics arrive at the collector, and the SDK's counters say so", async () => {
    const { page, errors } = await open(collector);
    await page.waitForSelector('#status[data-state="live"]');
    const expected = ["edgemetrics.init", "first-paint", "first-contentful-paint", "navigation.ttfb",
        "navigation.dom_content_loaded", "navigation.load", "dashboard.live"];
    const sent = await until("the page metrics", async () => {
        const names = await page.$$eval("#page-metrics li", (items) => items.map((li) => li.dataset.metric));
        return expected.every((name) => names.includes(name)) && names;
    });
    const stored = await until("rows of pageMetrics", async () => {
        const rows = (await collector.rows("pageMetrics")).filter((row) => row.session === undefined || row._cluster_id === "dashboard");
        const session = rows.at(-1)?.session;
        const mine = rows.filter((row) => row.session === session);
        return mine.length >= sent.length && mine;
    });
    assert.deepEqual(stored.map((row) => row.metric).sort(), [...sent].sort());
    for (const row of stored) {
        assert.equal(row.page, "dashboard");
        assert.ok(row.value_ms > 0 && row.value_ms < 60000, `${row.metric} = ${row.value_ms}`);
        assert.match(row.user_agent, /Chrome/);
    }
    await until("the SDK's counters", async () =>
        Number(await page.textContent('[data-stat="sent"]')) >= sent.length && (await page.textContent('[data-stat="pending"]')) === "0");
    assert.equal(await page.textContent('[data-stat="dropped"]'), "0");
    assert.deepEqual(errors, []);
    await page.close();
});

test("a page opened after rows were stored charts them from the collector's per-second series", async () => {
    const { code, output } = await write(collector, "--rows", "2000", "--rate", "0");
    assert.equal(code, 0, output);
    const { page, errors } = await open(collector, "&collection=containerMetrics&field=cpu_usage");
    await until("the stored rows' points", async () => (await chartPoints(page)) >= 1);
    assert.equal(await page.isVisible("#chart"), true);
    assert.equal(await panelCount(page, "received"), 0, "no row arrived live: the points are the stored ones");
    assert.deepEqual(errors, []);
    await page.close();
});

test("it says when the collector is away, and reconnects by itself when it is back", async () => {
    const { page, errors } = await open(collector, "&collection=containerMetrics&field=cpu_usage");
    await page.waitForSelector('#status[data-state="live"]');
    await collector.stop();
    await page.waitForSelector('#status[data-state="away"]', { timeout: 5000 });
    assert.match(await page.textContent("#status-text"), /^Collector away since [\d:]+ — reconnecting (in \d+ s|now)/);
    assert.equal(await page.isVisible("#retry"), true);
    await page.screenshot({ path: resolve(ARTIFACTS, "dashboard-away.png") });
    await sleep(1500);
    await collector.start();
    await page.waitForSelector('#status[data-state="live"]', { timeout: 20000 });
    assert.match(await page.textContent('[data-notice="reconnected"]'), /reconnected after \d+ s away/);
    // Live again: rows written now show up.
    const { code, output } = await write(collector, "--rows", "500", "--rate", "0");
    assert.equal(code, 0, output);
    await until("rows after the restart", async () => (await panelCount(page, "received")) === 500);
    assert.deepEqual(errors, []);
    await page.close();
});

test("it says when rows were missed because it fell behind", async () => {
    // A queue of one chunk per subscriber: a burst of small chunks overflows it.
    const narrow = await new Collector({ token: "narrow", www: WWW, extraArgs: ["--subscriber-queue-chunks", "1"] }).start();
    try {
        const { page, errors } = await open(narrow, "&collection=containerMetrics&field=cpu_usage");
        await page.waitForSelector('#status[data-state="live"]');
        const { code, output } = await write(narrow, "--rows", "20000", "--rate", "0", "--chunk-bytes", "2048");
        assert.equal(code, 0, output);
        const metrics = await (await fetch(`${narrow.url}/metrics`)).text();
        const missedByCollector = Number(/^edgemetrics_collector_subscriber_missed_rows_total (\d+)$/m.exec(metrics)[1]);
        assert.ok(missedByCollector > 0, "the burst overflowed the subscriber's queue");
        await until("delivered + missed = stored", async () =>
            (await panelCount(page, "received")) + (await panelCount(page, "missed")) === 20000);
        // The collector's count is of all collections (the page's own pageMetrics rows may be missed too).
        await until("the page's missed rows", async () => Number(await page.getAttribute("#notices", "data-missed")) === missedByCollector);
        const missed = await panelCount(page, "missed");
        const notice = await page.textContent('[data-notice="missed-containerMetrics"]');
        assert.match(notice, new RegExp(`${missed.toLocaleString()} rows of containerMetrics were not shown live`));
        await page.screenshot({ path: resolve(ARTIFACTS, "dashboard-missed.png") });
        assert.deepEqual(errors, []);
        await page.close();
    } finally {
        await narrow.stop();
    }
});

test("it charts the instruments a native client sent: a counter's rate, a histogram's quantiles", async () => {
    const { code, output } = await write(collector, "--collection", "instrumentedMetrics", "--rows", "4000", "--rate", "4000");
    assert.equal(code, 0, output);
    const { page, errors } = await open(collector, "&instrument=counters/writer.rows");
    await page.waitForSelector('#status[data-state="live"]');
    const chart = async () => page.evaluate(() => ({ ...document.querySelector("#instrument-chart").dataset }));
    const counter = await until("the counter's chart", async () => {
        const data = await chart();
        return data.kind === "counter" && Number(data.points) > 0 && data;
    });
    assert.equal(counter.lines, "rate/s");
    assert.ok(Number(counter.last) > 0, `rate ${counter.last}`);
    // The writer counted 4000 rows over its intervals: the steps add up to them
    // (its series, labelled by collection: other tests' writers count too).
    const labels = encodeURIComponent(JSON.stringify({ collection: "instrumentedMetrics" }));
    const answer = await (await fetch(`${collector.url}/api/instruments/counters/writer.rows?step_ms=10000&labels=${labels}&token=${collector.token}`)).json();
    const increase = answer.increase.filter((v) => v !== null).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(increase - 4000) < 1e-6, `increase ${increase}`);
    assert.match(await page.textContent("#instrument-hint"), /writer\.rows: rate per second over \d+ series/);

    await page.selectOption("#instrument", "histograms/writer.memory_usage");
    const histogram = await until("the histogram's chart", async () => {
        const data = await chart();
        return data.kind === "histogram" && Number(data.points) > 0 && data;
    });
    assert.equal(histogram.lines, "p50,p90,p99");
    // The rows' memory_usage is 300 MB ± 120 MB: every quantile is within it, in order.
    const [p50, p90, p99] = histogram.last.split(",").map(Number);
    assert.ok(180 <= p50 && p50 <= p90 && p90 <= p99 && p99 <= 420, `${histogram.last}`);
    assert.equal(new URL(page.url()).searchParams.get("instrument"), "histograms/writer.memory_usage");
    await page.locator("#instruments-panel").screenshot({ path: resolve(ARTIFACTS, "dashboard-instruments.png") });
    assert.deepEqual(errors, []);
    await page.close();
});
