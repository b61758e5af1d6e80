// Live rows over a WebSocket (`GET /v1/subscribe`), loaded when a page first
// subscribes. The first frame names the collections and carries the
// credentials (browsers cannot set headers on a WebSocket); every `Rows`
// frame is decoded with the schema sent with it (kept by fingerprint, as
// the collector sends each schema once per connection) into plain objects.
// A dropped connection is reopened with backoff unless the collector
// refused the subscription.
//
// This module imports nothing of the writer's (what it needs of it, the
// protobuf reader, comes with the subscription), so that bundlers load it
// as one chunk of its own rather than splitting the writer's code.
import { decodeRows } from "./decode.js";

/** The first reconnect waits this long, doubling up to the maximum. */
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 15000;
const utf8 = new TextEncoder();

/** `SubscribeRequest { token = 1; cluster_id = 2; repeated collections = 3; repeated from_clusters = 4 }`. */
function subscribeRequest({ token, clusterId }, collections, clusters) {
    const parts = [];
    const put = (number, text, always) => {
        const bytes = utf8.encode(text);
        if (bytes.length === 0 && !always) return;
        const header = [(number << 3) | 2];
        for (let n = bytes.length; ; n >>>= 7) {
            header.push(n > 127 ? (n & 127) | 128 : n);
            if (n <= 127) break;
        }
        parts.push(header, bytes);
    };
    put(1, token);
    put(2, clusterId);
    for (const c of collections) put(3, c, true);
    for (const c of clusters) put(4, c, true);
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
    return out;
}

/**
 * The shape of a schema for decoding: types, names, fields. The collector
 * checked the schema when it was written, so nothing here is validated;
 * what does not read as a schema fails the decoding.
 */
export function shape(text) {
    const named = new Map();
    const read = (t, space) => {
        if (typeof t === "string") return named.get(t.includes(".") || !space ? t : `${space}.${t}`) ?? named.get(t) ?? { type: t };
        if (Array.isArray(t)) return { type: "union", branches: t.map((b) => read(b, space)) };
        if (typeof t.type !== "string" || !["record", "error", "enum", "fixed", "array", "map"].includes(t.type)) return read(t.type, space);
        const node = { ...t, type: t.type === "error" ? "record" : t.type };
        if (t.name !== undefined) {
            const full = t.name.includes(".") || t.namespace === "" || t.namespace === null ? t.name
                : t.namespace ? `${t.namespace}.${t.name}` : space ? `${space}.${t.name}` : t.name;
            named.set(full, node);
            space = full.slice(0, Math.max(0, full.lastIndexOf(".")));
        }
        if (t.items !== undefined) node.items = read(t.items, space);
        if (t.values !== undefined) node.values = read(t.values, space);
        if (t.fields) node.fields = t.fields.map((f) => ({ name: f.name, node: read(f.type, space) }));
        return node;
    };
    return read(JSON.parse(text), "");
}

/** A `SubscribeEvent`'s event: `{ type, ... }`, or null when it carries none this build knows. */
export function readEvent({ fields, string }, frame) {
    let event = null;
    fields(frame, (number, inner, wire) => {
        if (wire !== 2) return number < 1 || number > 4;
        if (number === 1) {
            fields(inner, (n, _, w) => n !== 1 || w === 2);
            event = { type: "subscribed" };
        } else if (number === 2) {
            const rows = { collection: "", fingerprint: "0000000000000000", schema: new Uint8Array(), avro: new Uint8Array(), rows: 0, receivedAtMs: 0, clusterId: "" };
            fields(inner, (n, v, w) => {
                const want = [0, 2, 1, 2, 2, 0, 0, 2][n];
                if (want === undefined) return true;
                if (w !== want) return false;
                if (n === 1) rows.collection = string(v);
                else if (n === 2) rows.fingerprint = Array.from(v, (b) => b.toString(16).padStart(2, "0")).reverse().join("");
                else if (n === 3) rows.schema = v;
                else if (n === 4) rows.avro = v;
                else if (n === 5) rows.rows = v;
                else if (n === 6) rows.receivedAtMs = v;
                else rows.clusterId = string(v);
            });
            event = { type: "rows", rows };
        } else if (number === 3) {
            event = { type: "missed", collection: "", rows: 0 };
            fields(inner, (n, v, w) => {
                if (n === 1) return w === 2 && (event.collection = string(v)) !== undefined;
                if (n === 2) return w === 0 && (event.rows = v) !== undefined;
            });
        } else if (number === 4) {
            event = { type: "error", message: "" };
            fields(inner, (n, v, w) => n !== 1 || (w === 2 && (event.message = string(v)) !== undefined));
        }
    });
    return event;
}

/** Calls a user's callback; what it throws is its own problem. */
function call(callback, ...args) {
    try {
        callback?.(...args);
    } catch {
        // Not the subscription's to handle.
    }
}

/** Reports `failure` to `onError`. */
const report = (sub, failure) => call(sub._options.onError, failure);

/** Stops for good, reporting `failure` to `onError` and to `ready` if it is still pending. */
function end(sub, failure) {
    report(sub, failure);
    sub.close(failure);
}

/** Opens a connection for `sub` (a `Subscription`) and wires its callbacks. */
export function connect(sub) {
    const options = sub._options;
    sub._url ??= `${sub._client.url.replace(/^http/, "ws")}/v1/subscribe`;
    sub._request ??= subscribeRequest(sub._client, options.collections, options.clusters);
    sub._schemas ??= new Map();
    sub._retry ??= RECONNECT_MIN_MS;
    let ws;
    try {
        ws = new options.WebSocket(sub._url);
    } catch (e) {
        return dropped(sub, `the subscription could not open ${sub._url}: ${e?.message ?? "an exception"}`);
    }
    sub._socket = ws;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => ws.send(sub._request);
    ws.onmessage = (event) => {
        if (sub._socket === ws && !sub._closed && event.data instanceof ArrayBuffer) handle(sub, new Uint8Array(event.data));
    };
    ws.onclose = (event) => {
        if (sub._socket !== ws || sub._closed) return;
        dropped(sub, `the subscription to ${sub._url} closed (code ${event.code})${event.reason ? `: ${event.reason}` : ""}`);
    };
}

function handle(sub, frame) {
    let event;
    try {
        event = readEvent(sub._proto, frame);
    } catch (e) {
        return report(sub, sub._error("unreadable", `unreadable frame: ${e.message}`, false));
    }
    const options = sub._options;
    if (event?.type === "subscribed") {
        sub._retry = RECONNECT_MIN_MS;
        sub._settle?.resolve();
        sub._settle = null;
        call(options.onSubscribed);
    } else if (event?.type === "rows") {
        rows(sub, event.rows);
    } else if (event?.type === "missed") {
        if (options.onMissed) return call(options.onMissed, { collection: event.collection, rows: event.rows });
        const message = `${event.rows} rows of "${event.collection}" were not delivered: the subscriber fell behind`;
        report(sub, sub._error("missed", message, false));
    } else if (event?.type === "error") {
        // The collector refused the subscription and closes the socket.
        end(sub, sub._error("refused", `refused by the collector: ${event.message}`, false));
    }
}

/** Decodes one `Rows` frame and hands the rows to `onRows`. */
function rows(sub, frame) {
    const options = sub._options;
    // A collector that predates the cluster filter sends every cluster's
    // rows (without their cluster): the filter holds all the same.
    if (options.clusters.length > 0 && !options.clusters.includes(frame.clusterId)) return;
    let decoded;
    try {
        let root = sub._schemas.get(frame.fingerprint);
        if (root === undefined) {
            if (frame.schema.length === 0) throw new Error(`rows of unknown schema fingerprint ${frame.fingerprint}`);
            try {
                root = shape(sub._proto.string(frame.schema));
            } catch (e) {
                throw new Error(`unreadable schema: ${e.message}`);
            }
            sub._schemas.set(frame.fingerprint, root);
        }
        decoded = decodeRows(root, frame.avro, frame.rows);
    } catch (e) {
        const message = e.offset === undefined ? e.message : `rows of "${frame.collection}": ${e.message}`;
        return report(sub, sub._error("unreadable", message, false));
    }
    call(options.onRows, { collection: frame.collection, clusterId: frame.clusterId, rows: decoded, receivedAtMs: frame.receivedAtMs });
}

/**
 * The connection closed or could not be opened: reports it, then connects
 * again after the backoff or, without `reconnect`, ends the subscription.
 */
function dropped(sub, message) {
    if (!sub._options.reconnect) return end(sub, sub._error("disconnected", message, false));
    const delay = sub._retry;
    report(sub, sub._error("disconnected", `${message}; reconnecting in ${delay} ms`, true));
    sub._retry = Math.min(2 * delay, RECONNECT_MAX_MS);
    sub._timer = setTimeout(() => sub._closed || connect(sub), delay);
}
