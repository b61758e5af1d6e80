// `MetricClient`: options checked up front, metrics, and the loop that
// moves batches. The loop polls the wasm core's pipeline (which says: send
// this batch, wait until T, seal the open chunks), starts sends, and
// sleeps on a timer until the pipeline's deadline or a wake-up. With
// `background: false` (Workers, where nothing may run between requests)
// the same loop runs inside `flush()` and `close()` only.
import { Core } from "./core.js";
import { error, optionError } from "./errors.js";
import { sendFetch } from "./fetch.js";
import { Metric } from "./metric.js";
import { baseUrl, checkClusterId, missing, reader } from "./options.js";
import { parseSchema } from "./schema.js";
import { Subscription } from "./subscription.js";

const CLIENT_OPTIONS = ("apiAddr apiToken clusterId transport insecure flushIntervalMs maxRetryIntervalMs maxBufferBytes "
    + "drainTimeoutMs requestTimeoutMs compression flushOnPageHide background onEvent").split(" ");
const METRIC_OPTIONS = ["schema", "maxChunkSize", "skipTimestamp", "timestampColumn", "delivery"];
/** The deliveries, by the core's code. */
const DELIVERIES = ["bestEffort", "atLeastOnce", "exactlyOnce"];
const MAX_CHUNK_SIZE = 20 << 20;
/** The core's counters, in its order. */
const STATS = ("rowsWritten rowsOpen chunksSealed rowsSealed bytesSealed batchesSent chunksSent chunksAcked rowsAcked "
    + "bytesAcked retries chunksDroppedMemoryCap rowsDroppedMemoryCap chunksDroppedRejected rowsDroppedRejected "
    + "chunksDroppedShutdown rowsDroppedShutdown chunksPending rowsPending bytesPending chunksDroppedBestEffort "
    + "rowsDroppedBestEffort rowsDropped").split(" ");
/** Browsers refuse a keepalive request once those in flight would pass 64 KiB; a little is left for headers. */
const KEEPALIVE_BUDGET = 63 * 1024;

const now = () => performance.now();
const closedError = () => error("ClosedError", "the client is shut down");

/** A counter with waiters: `changed(seen, ms)` resolves once it moved past `seen`, or after `ms`. */
class Signal {
    count = 0;
    waiters = [];

    notify() {
        this.count++;
        for (const wake of this.waiters.splice(0)) wake();
    }

    changed(seen, ms) {
        return new Promise((resolve) => {
            if (this.count !== seen) return resolve();
            const done = () => {
                clearTimeout(timer);
                const at = this.waiters.indexOf(done);
                if (at >= 0) this.waiters.splice(at, 1);
                resolve();
            };
            const timer = ms < Infinity ? setTimeout(done, Math.max(0, ms)) : undefined;
            this.waiters.push(done);
        });
    }
}

/** Sends rows of typed metrics to the collector: buffered, chunked, flushed on an interval, retried until acknowledged. */
export class MetricClient {
    /** The transports of this build, by name (`edgemetrics/grpc-web`'s client adds its own). */
    static transports = { fetch: sendFetch };

    /** The options the constructor takes (`edgemetrics/instruments`' client adds its own). */
    static options = CLIENT_OPTIONS;

    /** The wasm core it runs on (`edgemetrics/instruments`' client has its own). */
    static core = "default";

    // The client's own state, private (`#`: a minifier shortens these names).
    #core;
    #send;
    #onEvent;
    #background;
    #queued;
    #progress;
    #keepalive;
    #written;
    #lastError;
    #closing;
    #closed;
    #stopped;
    #unhook;

    /** Checks the options (throws an `OptionError` naming the one at fault) and starts sending. */
    constructor(options) {
        const r = reader(options, "options", new.target.options);
        this._options = r;
        const token = r.string("apiToken") ?? missing("apiToken");
        if (!/^[!-~]+$/.test(token)) throw optionError("apiToken", "must be non-empty printable ASCII without spaces");
        this.clusterId = r.string("clusterId") ?? missing("clusterId");
        checkClusterId(this.clusterId);
        const insecure = r.boolean("insecure") ?? false;
        this.url = baseUrl(r.string("apiAddr") ?? missing("apiAddr"), insecure);
        this.token = token;
        const transport = r.string("transport") ?? "fetch";
        this.#send = Object.hasOwn(new.target.transports, transport) ? new.target.transports[transport] : undefined;
        if (!this.#send) {
            throw optionError("transport", transport === "grpc-web"
                ? '"grpc-web" is not in this build; import "edgemetrics/grpc-web" for it'
                : `"${transport}" is not a transport ("fetch" or "grpc-web")`);
        }
        const compression = r.string("compression") ?? "gzip";
        if (compression !== "gzip" && compression !== "none") {
            throw optionError("compression", `"${compression}" is not a compression ("gzip" or "none")`);
        }
        this.gzip = compression === "gzip";
        const flushIntervalMs = r.positive("flushIntervalMs") ?? 200;
        const maxRetryIntervalMs = r.positive("maxRetryIntervalMs") ?? 15000;
        const config = {
            flushIntervalMs,
            maxRetryIntervalMs,
            initialRetryMs: Math.min(100, maxRetryIntervalMs),
            maxBufferBytes: r.positive("maxBufferBytes") ?? 64 << 20,
        };
        this.drainTimeoutMs = r.positive("drainTimeoutMs") ?? 10000;
        this.requestTimeoutMs = r.positive("requestTimeoutMs") ?? 30000;
        const flushOnPageHide = r.boolean("flushOnPageHide") ?? true;
        this.#background = r.boolean("background") ?? true;
        this.#onEvent = r.function("onEvent");
        this.#core = new Core(config, new.target.core);
        this.#queued = new Set();
        this._wake = new Signal();
        this.#progress = new Signal();
        this.#keepalive = 0;
        this.#written = 0;
        this.#lastError = null;
        if (this.#background) this.#run().catch((e) => console.error("edgemetrics: the sender stopped:", e));
        if (flushOnPageHide && typeof document === "object" && typeof addEventListener === "function") {
            const hidden = () => document.visibilityState === "hidden" && this.#sendBeforeExit();
            const gone = () => this.#sendBeforeExit();
            document.addEventListener("visibilitychange", hidden);
            addEventListener("pagehide", gone);
            this.#unhook = () => {
                document.removeEventListener("visibilitychange", hidden);
                removeEventListener("pagehide", gone);
            };
        }
    }

    /** A metric whose rows are encoded with `options.schema`. Throws `SchemaError` or `OptionError`. */
    metric(options) {
        this._check();
        const r = reader(options, "metric options", METRIC_OPTIONS);
        let schema = r.get("schema");
        if (schema === undefined) missing("schema");
        if (typeof schema === "object" && schema !== null) {
            // Read by the same parser as JSON text, which names the field at fault.
            try {
                schema = JSON.stringify(schema);
            } catch {
                throw optionError("schema", "cannot be turned into JSON");
            }
        }
        if (typeof schema !== "string") throw optionError("schema", "must be an Avro record schema: an object or its JSON text");
        let root;
        try {
            root = parseSchema(schema);
        } catch (e) {
            if (e.path === undefined) throw e;
            const where = e.path ? `field "${e.path}"` : "schema";
            throw error("SchemaError", `invalid schema: ${where}: ${e.message}`, { field: e.path });
        }
        const maxChunkSize = r.positive("maxChunkSize") ?? 1 << 20;
        if (maxChunkSize > MAX_CHUNK_SIZE) {
            throw optionError("maxChunkSize", `${maxChunkSize} is not between 1 and ${MAX_CHUNK_SIZE} bytes`);
        }
        const skipTimestamp = r.boolean("skipTimestamp") ?? false;
        const column = r.string("timestampColumn");
        if (column !== undefined) {
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(column)) {
                throw optionError("timestampColumn", `"${column}" is not a valid column name ([A-Za-z_][A-Za-z0-9_]*)`);
            }
            if (root.fields.some((f) => f.name === column)) {
                throw optionError("timestampColumn", `"${column}" is already a field of the record`);
            }
        }
        const delivery = DELIVERIES.indexOf(options.delivery ?? "exactlyOnce");
        if (delivery < 0) throw optionError("delivery", `"${options.delivery}" is not one of ${DELIVERIES.join(", ")}`);
        const collection = root.name.slice(root.name.lastIndexOf(".") + 1);
        const index = this.#core.metric(collection, root.wire, maxChunkSize, skipTimestamp, column, delivery);
        return new Metric(this, index, root, maxChunkSize, collection);
    }

    /**
     * Seals every open chunk and resolves when all rows written before the call
     * are acknowledged. Rejects with `NotDeliveredError` after `drainTimeoutMs`
     * or `DroppedError` when some were dropped.
     */
    async flush() {
        const core = this._ready();
        this._collect();
        const before = core.stats();
        const target = core.call("seal");
        this._wake.notify();
        const delivered = await this.#driveUntil(() => core.call("pending", target) === 0);
        this.#events();
        const after = core.stats();
        if (!delivered) {
            const pendingRows = after[18];
            const lastError = this.#lastError;
            const message = `${pendingRows} rows not delivered yet${lastError === null ? "" : `; last error: ${lastError}`}`;
            throw error("NotDeliveredError", message, { pendingRows, lastError });
        }
        const rejected = after[14] - before[14];
        const capped = after[12] - before[12];
        const rows = rejected + capped + after[21] - before[21];
        if (rows === 0) return;
        const last = this.#lastError ?? "";
        const reason = rejected ? `rejected by the collector: ${last}`
            : capped ? "the memory cap on buffered bytes was reached while the collector was away" : `a best-effort send failed: ${last}`;
        throw error("DroppedError", `${rows} rows were dropped: ${reason}`, { rows, reason });
    }

    /** Stops taking rows, delivers what is buffered within `drainTimeoutMs`, drops and counts the rest. */
    close() {
        this.#closing ??= (async () => {
            const core = this._ready();
            this._collect();
            this.#closed = true;
            core.call("seal");
            this._wake.notify();
            await this.#driveUntil(() => core.call("idle"));
            const undeliveredRows = core.abandon("closed before the collector acknowledged the rows");
            this.#stopped = true;
            this._wake.notify();
            this.#unhook?.();
            this.#events();
            return { stats: this.stats(), undeliveredRows };
        })();
        return this.#closing;
    }

    /** The counters so far. */
    stats() {
        const values = this._ready().stats();
        // Every row written is open until its chunk is sealed.
        values[0] = this.#written;
        values[1] = this.#written - values[3];
        values[22] = values[12] + values[14] + values[16] + values[21];
        return Object.fromEntries(STATS.map((name, i) => [name, values[i]]));
    }

    /** Receives rows of `options.collections` as the collector stores them, over a WebSocket. */
    subscribe(options) {
        this._ready();
        return new Subscription(this, options);
    }

    /**
     * Releases the wasm memory of this handle: at once without a background
     * loop (what is not delivered is dropped, as after `close()`), else once
     * the loop has sent what is buffered (as `close()` does).
     */
    free() {
        if (this._freed) return;
        const release = () => {
            if (this._freed) return;
            this.#core.abandon("the client was freed");
            this.#stopped = this.#closed = this._freed = true;
            this.#unhook?.();
            this.#core.free();
        };
        // close()'s own callers see how it ended; this chain only releases.
        if (this.#background && !this.#stopped) this.close().finally(release).catch(() => {});
        else release();
    }

    /** @internal Turns what instruments recorded into rows (`edgemetrics/instruments`) when due at `at`, or now. */
    _collect() {}

    /** @internal Milliseconds until the instruments are due. */
    _untilCollect() {
        return Infinity;
    }

    /** @internal Throws unless rows may be written (to `metric`, which must not be freed). */
    _check(metric) {
        if (this.#closed || this._freed) throw closedError();
        if (metric?._freed) throw error("ClosedError", "the metric was freed");
    }

    /** @internal Schedules handing `metric`'s rows to the core at the end of this task. */
    _queue(metric) {
        if (this.#queued.size === 0) queueMicrotask(() => this._drain());
        this.#queued.add(metric);
    }

    /** @internal Hands every pending row to the core. */
    _drain() {
        if (this._freed || this.#queued.size === 0) return;
        let wake = false;
        for (const metric of this.#queued) {
            this.#written += metric._ends.length;
            wake = metric._drain(this.#core, now()) || wake;
        }
        this.#queued.clear();
        if (wake) this._wake.notify();
    }

    /** The core, with every row written so far in it. */
    _ready() {
        if (this._freed) throw closedError();
        this._drain();
        return this.#core;
    }

    async #run() {
        while (!this.#stopped) await this.#step(Infinity);
    }

    /** Polls the pipeline once and does what it says; sleeps at most `ms`. */
    async #step(ms) {
        this._collect(now());
        this.#events();
        const seen = this._wake.count;
        const core = this._ready();
        const action = core.poll(now());
        if (action.kind === 3) core.call("seal");
        else if (action.kind === 2) this.#send(this, action.body).then((failure) => this.#finish(action.id, failure));
        else await this._wake.changed(seen, Math.min(ms, this._untilCollect(), action.kind === 1 ? action.at - now() : Infinity));
    }

    /** Reports how sending batch `id` ended, and wakes whoever waits on it. */
    #finish(id, failure) {
        if (this._freed) return;
        if (failure === null) {
            this.#core.call("ack", id);
        } else {
            this.#core.fail(id, failure.retryable, failure.retryAfterMs, now(), failure.message);
            this.#lastError = failure.message;
        }
        this.#progress.notify();
        this._wake.notify();
    }

    /** Drives (or, with a background loop, waits for) the pipeline until `done` holds or `drainTimeoutMs` pass. */
    async #driveUntil(done) {
        const deadline = now() + this.drainTimeoutMs;
        let finished = done();
        while (!finished) {
            const left = deadline - now();
            if (left <= 0) break;
            if (this.#background) {
                const seen = this.#progress.count;
                await this.#progress.changed(seen, left);
            } else {
                await this.#step(left);
            }
            finished = done();
        }
        // Without a background loop the sends this call started end with it
        // (in a Worker nothing outlives the request): their chunks go back
        // in the queue, so that the next flush sends them again.
        if (!this.#background) this.#core.call("requeue");
        return finished;
    }

    /** Hands the pipeline's events to `onEvent`; drops are also logged when there is none. */
    #events() {
        for (let e; (e = this.#core.event()) !== null;) {
            if (this.#onEvent) {
                try {
                    this.#onEvent(e);
                } catch {
                    // A throwing callback must not stop the sender.
                }
            } else if (e.type === "dropped") {
                console.warn(`edgemetrics: dropped ${e.rows} rows in ${e.chunks} chunks of "${e.collection}" (${e.reason}): ${e.message}`);
            }
        }
    }

    /**
     * The page is going away: everything is sealed and sent now, with
     * `keepalive` requests (which the browser completes after the page is
     * gone) while their 64 KiB budget lasts, ordinary ones beyond it.
     */
    #sendBeforeExit() {
        if (this.#stopped || this._freed) return;
        const core = this._ready();
        core.call("seal");
        for (;;) {
            const action = core.poll(now());
            if (action.kind === 3) core.call("seal");
            else if (action.kind === 2) this.#sendParts(action);
            else break;
        }
    }

    /** Sends a batch as requests of whole chunks that fit the keepalive budget; acknowledged when all are. */
    #sendParts({ id, body, parts }) {
        const requests = [];
        let reserved = 0;
        let from = 0;
        let at = 0;
        const post = (start, end, keepalive) => {
            // Never gzipped: the request must start now, before the page is gone.
            if (end > start) requests.push(sendFetch(this, body.subarray(start, end), keepalive, false));
        };
        for (const size of parts) {
            if (at - from + size > KEEPALIVE_BUDGET - this.#keepalive - reserved) {
                reserved += at - from;
                post(from, at, true);
                from = at;
            }
            if (size > KEEPALIVE_BUDGET - this.#keepalive - reserved) {
                post(at, at + size, false);
                from = at + size;
            }
            at += size;
        }
        reserved += at - from;
        post(from, at, true);
        this.#keepalive += reserved;
        Promise.all(requests).then((failures) => {
            this.#keepalive -= reserved;
            this.#finish(id, failures.find((f) => f !== null) ?? null);
        });
    }
}
