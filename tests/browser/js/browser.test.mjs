// The client suite (suite/client.mjs) in headless Chromium
// (playwright-core driving /usr/bin/chromium): a page served from another
// origin than the collector, as a dashboard would be, loads the package's
// browser entry (`init()` fetching the .wasm, streaming compilation) and
// runs each test there, and the instruments' suite with
// `edgemetrics/instruments` loaded beside it. Run through harness.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, resolve, dirname, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { launchChromium } from "../../chromium.mjs";
import { tests } from "./suite/client.mjs";
import { tests as instrumentTests } from "./suite/instruments.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, "../../../pkg");
const env = { collector: process.env.EDGEMETRICS_COLLECTOR_URL, control: process.env.EDGEMETRICS_CONTROL_URL, token: process.env.EDGEMETRICS_TOKEN };
const types = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm" };
const PAGE = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module">
    import init, { MetricClient } from "/pkg/grpc-web.js";
    import initInstruments, { MetricClient as InstrumentClient } from "/pkg/instruments.js";
    import { tests } from "/suite/client.mjs";
    import { tests as instrumentTests } from "/suite/instruments.mjs";
    await Promise.all([init(), initInstruments()]);
    window.run = async (name, env) => {
        try {
            if (name.startsWith("instruments: ")) await instrumentTests[name.slice(13)]({ MetricClient: InstrumentClient, env });
            else await tests[name]({ MetricClient, env, WebSocket });
            return null;
        } catch (error) {
            return String(error?.stack ?? error);
        }
    };
</script>`;

/** Serves the page, `/pkg/...` from pkg/ and `/suite/...` from suite/. */
function serve() {
    const server = createServer(async (request, response) => {
        const path = normalize(decodeURIComponent(new URL(request.url, "http://page").pathname));
        if (path === "/") return response.writeHead(200, { "content-type": "text/html" }).end(PAGE);
        const file = path.startsWith("/pkg/") ? join(pkg, path.slice(5)) : path.startsWith("/suite/") ? join(here, path) : null;
        try {
            const body = await readFile(file);
            response.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(body);
        } catch {
            response.writeHead(404).end();
        }
    });
    return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server)));
}

let server, browser, page;
const pageErrors = [];
before(async () => {
    assert.ok(env.collector, "run through tests/browser/js/harness.mjs");
    server = await serve();
    browser = await launchChromium(chromium);
    page = await browser.newPage();
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => typeof window.run === "function", null, { timeout: 30000 });
});
after(async () => {
    await browser?.close();
    server?.close();
});

for (const name of [...Object.keys(tests), ...Object.keys(instrumentTests).map((name) => `instruments: ${name}`)]) {
    test(name, { timeout: 60000 }, async () => {
        const failure = await page.evaluate(([n, e]) => window.run(n, e), [name, env]);
        assert.equal(failure, null);
        assert.deepEqual(pageErrors, []);
    });
}
