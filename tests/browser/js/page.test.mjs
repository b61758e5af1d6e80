// A page writes rows and navigates away before the flush interval: the
// rows still reach the collector (keepalive fetch on pagehide and
// visibilitychange). Real Chromium (playwright-core driving
// /usr/bin/chromium), the page served from another origin than the
// collector, as a dashboard would be. Run through harness.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, resolve, dirname, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { launchChromium } from "../../chromium.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, "../../../pkg");
const collector = process.env.EDGEMETRICS_COLLECTOR_URL;
const token = process.env.EDGEMETRICS_TOKEN;
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };

/** Serves `/pkg/...` from pkg/ and everything else from page/. */
function serve() {
    const server = createServer(async (request, response) => {
        const path = normalize(decodeURIComponent(new URL(request.url, "http://page").pathname));
        const file = path.startsWith("/pkg/") ? join(pkg, path.slice(5)) : join(here, "page", path);
        try {
            const body = await readFile(file);
            response.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(body);
        } catch {
            response.writeHead(404).end();
        }
    });
    return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server)));
}

let server, browser;
before(async () => {
    assert.ok(collector, "run through tests/browser/js/harness.mjs");
    server = await serve();
    browser = await launchChromium(chromium);
});
after(async () => {
    await browser?.close();
    server?.close();
});

async function storedRows(collection, count, timeoutMs = 10000) {
    const url = `${collector}/api/collections/${collection}/rows?limit=10000&token=${token}`;
    for (let waited = 0; waited < timeoutMs; waited += 100) {
        const response = await fetch(url);
        if (response.ok) {
            const { rows } = await response.json();
            if (rows.length >= count) return rows;
        }
        await new Promise((ok) => setTimeout(ok, 100));
    }
    return (await (await fetch(url)).json()).rows ?? [];
}

/** Opens write.html, which writes `rows` rows, and navigates away at once. */
async function writeAndLeave(rows, extra = {}) {
    const collection = `page_${rows}_${Math.random().toString(16).slice(2, 10)}`;
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
    const origin = `http://127.0.0.1:${server.address().port}`;
    const query = new URLSearchParams({ collector, token, collection, rows: String(rows), ...extra });
    await page.goto(`${origin}/write.html?${query}`);
    await page.waitForFunction(() => window.written !== undefined);
    assert.equal(await page.evaluate(() => window.written), rows);
    // Away at once: nothing was sent yet (the flush interval is 10 minutes).
    await page.goto("about:blank");
    return { collection, page, errors };
}

for (const rows of [50, 2000]) {
    test(`${rows} rows written just before navigating away reach the collector`, async () => {
        const { collection, page, errors } = await writeAndLeave(rows);
        const stored = await storedRows(collection, rows);
        await page.close();
        assert.deepEqual(errors, []);
        assert.equal(stored.length, rows);
        assert.deepEqual(stored.map((row) => row.seq).sort((a, b) => a - b), [...Array(rows).keys()]);
        assert.ok(stored.every((row) => row.page === "/write.html" && row._cluster_id === "page"));
    });
}

test("without flushOnPageHide the same rows are lost (the control)", async () => {
    const { collection, page, errors } = await writeAndLeave(50, { hide: "off" });
    const stored = await storedRows(collection, 1, 1500);
    await page.close();
    assert.deepEqual(errors, []);
    assert.equal(stored.length, 0);
});
