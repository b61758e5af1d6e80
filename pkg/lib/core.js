// The wasm core (src/wasm/mod.rs): the chunk buffers and the send pipeline
// of the Rust engine, called through its C ABI. Strings and rows go in
// through the client's scratch area; results come back in its `out` area of
// f64s, and bodies and texts as an address and a length into memory the
// client owns until its next call.
import { utf8 } from "./encode.js";
import { error } from "./errors.js";

const text = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Sends in flight at once: browsers open six connections per host, and a
 * page that is being hidden needs a free one for its last batch.
 */
const MAX_IN_FLIGHT = 4;

/** Why rows were dropped, by the core's code. */
const REASONS = ["memory_cap", "rejected", "shutdown", "best_effort"];

/** The instances' exports, by build (`default`, `instruments`): ./load.js fills it in. */
export const instances = {};

/** One client of the core. */
export class Core {
    constructor(config, build) {
        const wasm = instances[build];
        if (wasm === undefined) throw new Error("edgemetrics: call init() (or initSync) before new MetricClient()");
        this.w = wasm;
        // 53 random bits each: the session id keeps chunk ids unique across page loads.
        const words = new Uint32Array(4).map(() => Math.random() * 2 ** 32);
        globalThis.crypto?.getRandomValues(words);
        const random = (i) => (words[i] >>> 11) * 2 ** 32 + words[i + 1];
        this.h = this.w.em_new(config.flushIntervalMs, config.initialRetryMs, config.maxRetryIntervalMs,
            config.maxBufferBytes, 4 << 20, MAX_IN_FLIGHT, random(0), random(2));
        this.out = this.w.em_out(this.h) / 8;
    }

    /** `em_<name>(handle, ...args)`; a client freed throws, and never reaches the core. */
    call(name, ...args) {
        if (this.h === 0) throw error("ClosedError", "the client is shut down");
        return this.w[`em_${name}`](this.h, ...args);
    }

    /** Frees the core's client; every later call throws. */
    free() {
        this.call("free");
        this.h = 0;
    }

    /** The numbers of the `out` area. */
    o() {
        return new Float64Array(this.w.memory.buffer, 8 * this.out, 8);
    }

    bytes(at, length) {
        return new Uint8Array(this.w.memory.buffer, at, length);
    }

    /** Copies `data` into the scratch area with `extra` bytes to spare; returns its address. */
    put(data, extra = 0) {
        const at = this.call("scratch", data.length + extra);
        this.bytes(at, data.length).set(data);
        return at;
    }

    /** Puts strings one after another in the scratch area; returns their UTF-8 lengths. */
    strings(...list) {
        const encoded = list.map((s) => utf8.encode(s));
        this.put(new Uint8Array(encoded.flatMap((e) => [...e])));
        return encoded.map((e) => e.length);
    }

    metric(collection, schema, maxChunkSize, skipTimestamp, column, delivery) {
        const [c, s, t] = this.strings(collection, schema, column ?? "");
        return this.call("metric", maxChunkSize, skipTimestamp, c, s, column === undefined ? -1 : t, delivery);
    }

    /** Appends encoded rows: `data` holds them, `ends` where each ends. Returns 0, or 2 to wake the sender. */
    append(metric, data, ends, now) {
        const at = this.put(data, 4 * ends.length);
        const view = new DataView(this.w.memory.buffer, at + data.length);
        ends.forEach((end, i) => view.setUint32(4 * i, end, true));
        return this.call("append", metric, data.length, ends.length, now);
    }

    /**
     * What to do now: `{ kind: 0 }` nothing, 1 wait until `at`, 3 seal and
     * ask again, or 2 send batch `id`: its `body` and the sizes of its
     * chunks' `parts` (copies).
     */
    poll(now) {
        const kind = this.call("poll", now);
        const [id, body, length, parts, count] = this.o();
        if (kind !== 2) return { kind, at: id };
        return {
            kind, id,
            body: this.bytes(body, length).slice(),
            parts: new Uint32Array(this.w.memory.buffer.slice(parts, parts + 4 * count)),
        };
    }

    fail(id, retryable, retryAfterMs, now, message) {
        this.call("fail", id, retryable, retryAfterMs, now, this.strings(message)[0]);
    }

    abandon(message) {
        return this.call("abandon", this.strings(message)[0]);
    }

    /** The pipeline's counters, in the order of `Stats`; the rows written and open are the client's to fill in. */
    stats() {
        const at = this.call("stats");
        return Array.from(new BigUint64Array(this.w.memory.buffer, at, 22), Number);
    }

    /** The next event for `onEvent`, or null. */
    event() {
        const kind = this.call("event");
        if (kind === 0) return null;
        const [a, b, rows, split, at, length] = this.o();
        const message = text.decode(this.bytes(at + split, length - split));
        return kind === 1
            ? { type: "dropped", reason: REASONS[a], collection: text.decode(this.bytes(at, split)), chunks: b, rows, message }
            : { type: "retry", attempt: a, delayMs: b, message };
    }
}
