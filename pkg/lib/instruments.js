// Instruments for `edgemetrics/instruments`: counters, up-down counters,
// gauges, histograms (explicit and exponential), summaries and timers, with
// labels. They are the engine's (src/engine/instruments, in this entry's
// wasm core), so they aggregate exactly as in native Rust: each interval
// (the flush interval unless `instrumentIntervalMs` says otherwise) every
// series updated becomes a row of its kind's collection (`counters`,
// `gauges`, `histograms`, `exponential_histograms`, `summaries`), sent with
// the other rows.
import { MetricClient as Client } from "./client.js";
import { utf8 } from "./encode.js";
import { error, kind, numberText, optionError } from "./errors.js";
import { reader } from "./options.js";

const utf8Text = new TextDecoder("utf-8", { ignoreBOM: true });
/** The engine's kinds, in the order of the wasm core's `KINDS`. */
const KINDS = { counter: 0, upDownCounter: 1, gauge: 2, histogram: 3, exponentialHistogram: 4, summary: 5 };
const TIMER_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const now = () => performance.now();
/** Label sets an instrument keeps bound between collections, at most. */
const CACHED_SERIES = 4096;

/** The engine's error, as its `Display` writes it, as an `InstrumentError`. */
function refused(core) {
    // The core's last error text (here rather than in ./core.js, which every entry loads).
    const [what, subject, message] = utf8Text.decode(core.bytes(core.call("text"), core.o()[0])).split("\u0001");
    const value = core.o()[1];
    const text = what === "value" ? `value ${numberText(value)} ${message}`
        : what === "labels" ? `${subject} ${message}` : `${what} "${subject}" ${message}`;
    return error("InstrumentError", text, what === "value" ? { what, value } : { what, subject });
}

/** Puts `labels` (an object of strings, numbers or booleans) in the scratch area; returns how many pairs. */
function putLabels(core, labels) {
    if (labels === undefined) return 0;
    if (typeof labels !== "object" || labels === null || Array.isArray(labels)) {
        throw error("InstrumentError", `labels must be an object of names and values, not ${kind(labels)}`, { what: "labels", subject: "" });
    }
    const keys = Object.keys(labels);
    let size = 0;
    for (const key of keys) size += 8 + 3 * (key.length + String(labels[key]).length);
    const at = core.call("scratch", size);
    const bytes = core.bytes(at, size);
    const view = new DataView(bytes.buffer, bytes.byteOffset, size);
    let n = 0;
    for (const key of keys) {
        const value = labels[key];
        if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
            throw error("InstrumentError", `label "${key}" must be a string, a number or a boolean, not ${kind(value)}`, { what: "label", subject: key });
        }
        const k = utf8.encodeInto(key, bytes.subarray(n + 8)).written;
        const v = utf8.encodeInto(String(value), bytes.subarray(n + 8 + k)).written;
        view.setUint32(n, k, true);
        view.setUint32(n + 4, v, true);
        n += 8 + k + v;
    }
    return keys.length;
}

function checkNumber(value) {
    if (typeof value === "bigint") return Number(value);
    if (typeof value !== "number") {
        throw error("InstrumentError", `value must be a number, not ${kind(value)}`, { what: "value", value: NaN });
    }
    return value;
}

/** Where a label set's handle is kept in an instrument's tree of bound sets. */
const END = Symbol();

/** The node of `labels` (whose names are `names`) in a tree of bound sets, made on the way when `make`. */
function walk(node, names, labels, make) {
    for (const name of names) {
        node = step(step(node, name, make), labels[name], make);
        if (node === undefined) return undefined;
    }
    return node;
}

function step(node, key, make) {
    let next = node?.get(key);
    if (next === undefined && make) node.set(key, (next = new Map()));
    return next;
}

/** An instrument; `add`, `set` or `record` by kind. */
class Instrument {
    constructor(client, type, name, options = {}, defaults = {}) {
        const r = reader(options, "instrument options", type === "histogram" ? ["unit", "description", "bounds"] : ["unit", "description"]);
        if (typeof name !== "string") throw error("InstrumentError", `name must be a string, not ${kind(name)}`, { what: "name", subject: "" });
        const unit = r.string("unit") ?? defaults.unit ?? "";
        const description = r.string("description") ?? "";
        const bounds = r.get("bounds") ?? defaults.bounds ?? [];
        if (!Array.isArray(bounds) || !bounds.every((b) => typeof b === "number")) throw optionError("bounds", "must be an array of numbers");
        const core = client._ready();
        const strings = [name, unit, description].map((s) => utf8.encode(s));
        const size = strings.reduce((n, s) => n + s.length, 0);
        const at = core.call("scratch", size + 8 * bounds.length);
        const bytes = core.bytes(at, size + 8 * bounds.length);
        strings.reduce((offset, s) => (bytes.set(s, offset), offset + s.length), 0);
        const view = new DataView(bytes.buffer, bytes.byteOffset + size, 8 * bounds.length);
        bounds.forEach((b, i) => view.setFloat64(8 * i, b, true));
        const index = core.call("instrument", KINDS[type], ...strings.map((s) => s.length), bounds.length);
        if (index < 0) throw refused(core);
        this._client = client;
        this._index = index;
        /**
         * Label sets seen since the last collection, bound, in a tree of
         * maps: a name, then its value, then the next name, and the handle
         * under `END`. A set seen again costs a map lookup for each name and
         * value (cached hashes of strings the caller keeps) rather than its
         * strings' encoding and a lookup in the core: 130 ns, where a key
         * made of the set's text cost 600 to hash. Let go at each collection
         * (so that idle series can go stale), and bounded.
         */
        this._bound = new Map();
        /** The handles in `_bound`. */
        this._kept = [];
        client._instruments.push(this);
        /** The instrument's name. */
        this.name = name;
    }

    _record(value, labels) {
        const v = checkNumber(value);
        if (typeof labels === "object" && labels !== null) {
            const names = Object.keys(labels);
            let bound = walk(this._bound, names, labels, false)?.get(END);
            if (bound === undefined && this._kept.length < CACHED_SERIES) {
                bound = this.bind(labels);
                walk(this._bound, names, labels, true).set(END, bound);
                this._kept.push(bound);
            }
            if (bound !== undefined) return bound._record(v);
        }
        const core = this._client._ready();
        const count = putLabels(core, labels);
        if (core.call("record", this._index, v, count) < 0) throw refused(core);
    }

    /** Lets go of the label sets kept bound. */
    _forget() {
        for (const bound of this._kept) bound.unbind();
        this._kept = [];
        this._bound = new Map();
    }

    /** The series of `labels`, to record into without a lookup; `unbind()` lets it go. */
    bind(labels) {
        const core = this._client._ready();
        const count = putLabels(core, labels);
        const handle = core.call("bind", this._index, count);
        if (handle < 0) throw refused(core);
        return new Bound(this._client, handle);
    }
}

/** A series bound to its labels. */
class Bound {
    constructor(client, handle) {
        this._client = client;
        this._handle = handle;
    }

    _record(value) {
        const v = checkNumber(value);
        const core = this._client._ready();
        if (core.call("bound_record", this._handle, v) < 0) throw refused(core);
    }

    add(value) {
        this._record(value);
    }

    set(value) {
        this._record(value);
    }

    record(value) {
        this._record(value);
    }

    /** Lets go of the series (it may then be dropped when it goes idle). */
    unbind() {
        this._client._ready().call("unbind", this._handle);
    }
}

/** A counter or up-down counter: `add(value, labels)`. */
export class Counter extends Instrument {
    add(value, labels) {
        this._record(value, labels);
    }
}

/** A gauge: `set(value, labels)`. */
export class Gauge extends Instrument {
    set(value, labels) {
        this._record(value, labels);
    }
}

/** A histogram, exponential histogram or summary: `record(value, labels)`. */
export class Histogram extends Instrument {
    record(value, labels) {
        this._record(value, labels);
    }
}

/** A histogram of durations in seconds. */
export class Timer extends Histogram {
    /** Starts timing; `stop()` records the seconds since, for `labels`, and returns them. */
    start(labels) {
        const started = now();
        return { stop: () => {
            const seconds = (now() - started) / 1000;
            this.record(seconds, labels);
            return seconds;
        } };
    }

    /** Runs `f` (which may return a promise) and records how long it took. */
    time(labels, f) {
        const timing = this.start(labels);
        let result;
        try {
            result = f();
        } catch (e) {
            timing.stop();
            throw e;
        }
        if (typeof result?.then === "function") return result.finally(() => timing.stop());
        timing.stop();
        return result;
    }
}

const OPTIONS = [...Client.options, "instrumentIntervalMs", "temporality", "cardinalityLimit", "staleAfter"];

/** The client with instruments (see `edgemetrics/instruments`). */
export class MetricClient extends Client {
    static options = OPTIONS;
    static core = "instruments";

    constructor(options) {
        super(options);
        const r = this._options;
        const temporality = r.string("temporality") ?? "delta";
        if (temporality !== "delta" && temporality !== "cumulative") {
            throw optionError("temporality", `"${temporality}" is not a temporality ("delta" or "cumulative")`);
        }
        this._interval = r.positive("instrumentIntervalMs") ?? (r.get("flushIntervalMs") ?? 200);
        const core = this._ready();
        core.call("instruments_config", temporality === "cumulative" ? 1 : 0, r.positive("cardinalityLimit") ?? 2000, r.positive("staleAfter") ?? 10);
        this._instruments = [];
        this._collectAt = now() + this._interval;
    }

    counter(name, options) {
        return new Counter(this, "counter", name, options);
    }

    upDownCounter(name, options) {
        return new Counter(this, "upDownCounter", name, options);
    }

    gauge(name, options) {
        return new Gauge(this, "gauge", name, options);
    }

    histogram(name, options) {
        return new Histogram(this, "histogram", name, options);
    }

    exponentialHistogram(name, options) {
        return new Histogram(this, "exponentialHistogram", name, options);
    }

    summary(name, options) {
        return new Histogram(this, "summary", name, options);
    }

    timer(name, options) {
        return new Timer(this, "histogram", name, options, { unit: "s", bounds: TIMER_BOUNDS });
    }

    /** `{instruments, series, overflowed}`: instruments made, their series, updates that went to an overflow series. */
    instrumentStats() {
        const core = this._ready();
        core.call("instrument_stats");
        const [instruments, series, overflowed] = core.o();
        return { instruments, series, overflowed };
    }

    _collect(at) {
        // Before the constructor is done (the loop's first step), or after free().
        if (this._collectAt === undefined || this._freed || (at !== undefined && at < this._collectAt)) return;
        this._collectAt = now() + this._interval;
        const core = this._ready();
        if (core.call("collect", Date.now(), now()) > 0) this._wake.notify();
        this._instruments.forEach((instrument) => instrument._forget());
    }

    _untilCollect() {
        return this._collectAt === undefined ? Infinity : Math.max(0, this._collectAt - now());
    }
}
