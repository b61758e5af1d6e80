// The real collector as a child process, for the Worker and dashboard
// tests: started on 127.0.0.1 (port 0, or a given one to come back on after
// a stop), queried through its JSON API.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** Cargo's target directory, where the binaries are built. */
export const TARGET = resolve(ROOT, process.env.CARGO_TARGET_DIR ?? "target");
const BINARY = process.env.EDGEMETRICS_COLLECTOR_BIN ?? resolve(TARGET, "debug/edgemetrics-collector");

/** A running collector; `stop()` kills it, `start()` brings it back on the same port. */
export class Collector {
    constructor({ token = "test-token", www = null, extraArgs = [] } = {}) {
        this.token = token;
        this.www = www;
        this.extraArgs = extraArgs;
        this.port = 0;
        this.child = null;
        this.log = [];
    }

    get url() {
        return `http://127.0.0.1:${this.port}`;
    }

    /** Starts the binary and waits for its `listening on` line. */
    async start() {
        if (!existsSync(BINARY)) {
            throw new Error(`${BINARY} is missing: cargo build -p edgemetrics-collector (or set EDGEMETRICS_COLLECTOR_BIN)`);
        }
        const args = ["--addr", `127.0.0.1:${this.port}`, "--db", ":memory:", "--token", this.token, ...this.extraArgs];
        if (this.www) args.push("--www", this.www);
        const child = spawn(BINARY, args, { stdio: ["ignore", "pipe", "pipe"] });
        this.child = child;
        child.stderr.on("data", (data) => this.log.push(String(data)));
        const line = await new Promise((ok, fail) => {
            const lines = createInterface({ input: child.stdout });
            lines.once("line", ok);
            child.once("exit", (code) => fail(new Error(`collector exited (${code}): ${this.log.join("")}`)));
        });
        const match = /^listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line.trim());
        if (!match) throw new Error(`collector said ${JSON.stringify(line)}`);
        this.port = Number(match[1]);
        return this;
    }

    /** Kills the process (SIGKILL: the collector is gone at once, as in a crash). */
    async stop() {
        const child = this.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((ok) => child.once("exit", ok));
        child.kill("SIGKILL");
        await exited;
        this.child = null;
    }

    /** GET of the query API; the parsed JSON, or throws with the status. */
    async api(path) {
        const response = await fetch(`${this.url}${path}`, { headers: { authorization: `Token ${this.token}` } });
        const body = await response.json();
        if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${JSON.stringify(body)}`);
        return body;
    }

    /** Stored rows of `collection` (empty when it does not exist yet). */
    async rows(collection) {
        try {
            return (await this.api(`/api/collections/${collection}/rows?limit=10000`)).rows;
        } catch (error) {
            if (/: 404 /.test(error.message)) return [];
            throw error;
        }
    }

    /** Waits until `collection` holds at least `count` rows; returns them. */
    async waitForRows(collection, count, timeoutMs = 10000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const rows = await this.rows(collection);
            if (rows.length >= count || Date.now() > deadline) return rows;
            await sleep(100);
        }
    }
}

export const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
