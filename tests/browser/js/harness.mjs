#!/usr/bin/env node
// Runs a command against a real collector, and lets the test drive it.
//
//   node tests/browser/js/harness.mjs [--collector PATH] [--native-writer PATH] -- COMMAND ARGS...
//
// Starts `edgemetrics-collector` on a free port of 127.0.0.1 with a database
// file in a temporary directory and fault injection on, then a control
// server on another free port, then COMMAND with these in its environment:
//
//   EDGEMETRICS_COLLECTOR_URL  http://127.0.0.1:PORT
//   EDGEMETRICS_CONTROL_URL    http://127.0.0.1:PORT2
//   EDGEMETRICS_TOKEN          the collector's token
//
// The control server (CORS open, so a test page can call it):
//   POST /stop                 stops the collector (SIGTERM, waits for exit)
//   POST /start                starts it again on the same port, same database
//   POST /native-write?collection=NAME&rows=N&cluster=ID
//                              writes rows with the native Rust client
//                              (tests/browser's `native-writer`), answers its output
//   GET  /health               "ok"
// The harness exits with COMMAND's status after stopping everything.
import { spawn, execFile } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const args = process.argv.slice(2);
const split = args.indexOf("--");
if (split < 0 || split === args.length - 1) {
    console.error("usage: harness.mjs [--collector PATH] [--native-writer PATH] -- COMMAND ARGS...");
    process.exit(2);
}
const flags = args.slice(0, split);
const command = args.slice(split + 1);
const flag = (name, fallback) => {
    const i = flags.indexOf(name);
    return i >= 0 ? flags[i + 1] : fallback;
};
const target = process.env.CARGO_TARGET_DIR ?? join(root, "target");
const collectorPath = flag("--collector", join(target, "debug/edgemetrics-collector"));
const writerPath = flag("--native-writer", join(target, "debug/native-writer"));
const token = "harness-token";
const dir = mkdtempSync(join(tmpdir(), "edgemetrics-harness-"));
const db = join(dir, "collector.db");

let collector = null;
let port = 0;
const log = (...parts) => console.error("[harness]", ...parts);

/** Starts the collector and resolves with its URL once it listens. */
function start() {
    return new Promise((resolvePromise, reject) => {
        const child = spawn(collectorPath, [
            "--addr", `127.0.0.1:${port}`, "--db", db, "--token", token, "--enable-fault-injection",
        ], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" } });
        let out = "";
        const timer = setTimeout(() => reject(new Error(`the collector did not start within 20 s: ${out}`)), 20000);
        child.stdout.on("data", (data) => {
            out += data;
            const match = out.match(/listening on (http:\/\/127\.0\.0\.1:(\d+))/);
            if (match && collector !== child) {
                clearTimeout(timer);
                collector = child;
                port = Number(match[2]);
                resolvePromise(match[1]);
            }
        });
        child.stderr.on("data", (data) => process.stderr.write(`[collector] ${data}`));
        child.on("exit", (code, signal) => {
            clearTimeout(timer);
            if (collector === child) collector = null;
            if (code !== 0 && signal !== "SIGTERM") reject(new Error(`the collector exited (${code ?? signal}): ${out}`));
        });
    });
}

/** Stops the collector and resolves once it has exited. */
function stop() {
    const child = collector;
    if (!child) return Promise.resolve();
    return new Promise((resolvePromise) => {
        child.on("exit", () => resolvePromise());
        child.kill("SIGTERM");
    });
}

function nativeWrite(params) {
    const argv = [
        "--url", `http://127.0.0.1:${port}`, "--token", token,
        "--collection", params.get("collection") ?? "", "--rows", params.get("rows") ?? "1",
        "--cluster", params.get("cluster") ?? "native",
    ];
    return new Promise((resolvePromise) => {
        execFile(writerPath, argv, { timeout: 60000 }, (error, stdout, stderr) => {
            resolvePromise(error ? { status: 500, body: `${error.message}\n${stderr}` } : { status: 200, body: stdout });
        });
    });
}

const control = createServer(async (request, response) => {
    const url = new URL(request.url, "http://control");
    const headers = { "access-control-allow-origin": "*", "access-control-allow-methods": "GET, POST", "content-type": "text/plain" };
    if (request.method === "OPTIONS") {
        response.writeHead(204, headers).end();
        return;
    }
    let status = 200, body = "ok";
    try {
        if (url.pathname === "/stop") {
            await stop();
            log("collector stopped");
        } else if (url.pathname === "/start") {
            if (!collector) {
                await start();
                log(`collector started again on port ${port}`);
            }
        } else if (url.pathname === "/native-write") {
            ({ status, body } = await nativeWrite(url.searchParams));
        } else if (url.pathname !== "/health") {
            status = 404;
            body = `no ${url.pathname}`;
        }
    } catch (error) {
        status = 500;
        body = String(error?.stack ?? error);
    }
    response.writeHead(status, headers).end(body);
});

let exitCode = 1;
try {
    const collectorUrl = await start();
    await new Promise((ok) => control.listen(0, "127.0.0.1", ok));
    const controlUrl = `http://127.0.0.1:${control.address().port}`;
    log(`collector ${collectorUrl}, control ${controlUrl}`);
    const child = spawn(command[0], command.slice(1), {
        stdio: "inherit",
        env: { ...process.env, EDGEMETRICS_COLLECTOR_URL: collectorUrl, EDGEMETRICS_CONTROL_URL: controlUrl, EDGEMETRICS_TOKEN: token },
    });
    for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
    exitCode = await new Promise((ok) => child.on("exit", (code, signal) => ok(code ?? (signal ? 1 : 0))));
} catch (error) {
    log(error?.stack ?? error);
} finally {
    control.close();
    await stop();
    rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
