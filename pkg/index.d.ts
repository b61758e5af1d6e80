// Type declarations of the edgemetrics npm package (written by hand; the
// same for the default build and `edgemetrics/grpc-web`).

/** What `init()` accepts: the .wasm's URL, a fetch `Response`, its bytes, or a compiled module. */
export type InitInput = string | URL | Request | Response | BufferSource | WebAssembly.Module;

/**
 * Loads the WebAssembly module; call it once before anything else (in Node
 * the package is ready on import and this resolves at once). Without an
 * argument the browser entry fetches the package's `dist/edgemetrics.wasm`
 * (compiling it as it downloads).
 */
export default function init(input?: InitInput | Promise<InitInput>): Promise<unknown>;

/**
 * Loads the WebAssembly module synchronously from a compiled module or its
 * bytes, e.g. in Cloudflare Workers:
 * `import wasm from "edgemetrics/edgemetrics.wasm"; initSync(wasm);`
 */
export function initSync(module: WebAssembly.Module | BufferSource): unknown;

/** Options of `new MetricClient(...)`. Unknown names are refused. */
export interface ClientOptions {
    /** The collector: `host:port` or a URL (`https://`, or `http://` with `insecure`). */
    apiAddr: string;
    /** The API token, sent as `authorization: Token <apiToken>`. */
    apiToken: string;
    /** The cluster id, sent as `x-cluster-id` (1 to 128 of `A-Z a-z 0-9 . _ : -`). */
    clusterId: string;
    /** `"fetch"` (the default: POST /v1/metrics) or `"grpc-web"` (only in `edgemetrics/grpc-web`). */
    transport?: "fetch" | "grpc-web";
    /** Allow plaintext `http://` (development only). Default false. */
    insecure?: boolean;
    /** Rows wait at most this long in an open chunk before they are sent. Default 200. */
    flushIntervalMs?: number;
    /** The longest wait between retries. Default 15000. */
    maxRetryIntervalMs?: number;
    /** The cap on sealed, unacknowledged bytes; over it the oldest chunks are dropped (and counted). Default 64 MiB. */
    maxBufferBytes?: number;
    /** How long `flush()` and `close()` wait for acknowledgements. Default 10000. */
    drainTimeoutMs?: number;
    /** How long one send may take. Default 30000. */
    requestTimeoutMs?: number;
    /** Gzip request bodies of 1 KiB and more where `CompressionStream` exists. Default `"gzip"`. */
    compression?: "gzip" | "none";
    /**
     * Send what is buffered with `fetch(..., { keepalive: true })` when the page
     * is hidden or unloaded (`visibilitychange`, `pagehide`), within the
     * browsers' 64 KiB keepalive budget. Default true.
     */
    flushOnPageHide?: boolean;
    /**
     * Send on a timer in the background (default true). Set false where
     * nothing may run between requests (Cloudflare Workers): rows are then
     * sent only by `flush()` and `close()`, e.g. inside `ctx.waitUntil`.
     */
    background?: boolean;
    /** Called with every event: rows dropped, retries scheduled. */
    onEvent?: (event: ClientEvent) => void;
}

/** Something that happened to rows after `write`. */
export type ClientEvent =
    | {
          type: "dropped";
          /**
           * Why: the memory cap was reached, the collector rejected them, the client closed first,
           * or the one attempt of a `bestEffort` metric failed.
           */
          reason: "memory_cap" | "rejected" | "shutdown" | "best_effort";
          collection: string;
          chunks: number;
          rows: number;
          message: string;
      }
    | { type: "retry"; attempt: number; delayMs: number; message: string };

/** An Avro type in a schema object. */
export type AvroType =
    | "null" | "boolean" | "int" | "long" | "float" | "double" | "bytes" | "string"
    | string
    | AvroType[]
    | { type: "array"; items: AvroType; [key: string]: unknown }
    | { type: "map"; values: AvroType; [key: string]: unknown }
    | { type: "enum"; name: string; symbols: string[]; [key: string]: unknown }
    | { type: "fixed"; name: string; size: number; [key: string]: unknown }
    | AvroRecordSchema
    | { type: string; logicalType?: string; [key: string]: unknown };

/** An Avro record schema: the top level of every metric's schema. */
export interface AvroRecordSchema {
    type: "record";
    /** The record's name is the collection's name. */
    name: string;
    namespace?: string;
    doc?: string;
    fields: Array<{ name: string; type: AvroType; default?: JsonValue; doc?: string; [key: string]: unknown }>;
    [key: string]: unknown;
}

/** A JSON value (schema defaults and properties). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Options of `client.metric(...)`. */
export interface MetricOptions {
    /** The Avro record schema, as an object or its JSON text. */
    schema: AvroRecordSchema | string;
    /** Chunks are sealed before they pass this many bytes. Default 1 MiB, at most 20 MiB. */
    maxChunkSize?: number;
    /** Ask the collector not to add its receive-time column. Default false. */
    skipTimestamp?: boolean;
    /** The name of the collector's receive-time column. Default `"timestamp"`. */
    timestampColumn?: string;
    /**
     * What the metric's chunks are promised. `"exactlyOnce"` (default): retried until acknowledged,
     * stored once. `"atLeastOnce"`: retried, no de-duplication record, a resent chunk may be stored twice.
     * `"bestEffort"`: one attempt, dropped and counted (`rowsDroppedBestEffort`) when it fails, never kept
     * for a retry.
     */
    delivery?: Delivery;
}

/** A metric's delivery guarantee (see `MetricOptions.delivery`). */
export type Delivery = "bestEffort" | "atLeastOnce" | "exactlyOnce";

/**
 * A value in a row. `long` takes numbers (whole, safe integers) or bigint;
 * `float`/`double` numbers; `bytes`/`fixed` a Uint8Array; enums their
 * symbol; unions any of their branches' values; `null` or a missing field
 * where the schema allows it.
 */
export type RowValue =
    | null
    | undefined
    | boolean
    | number
    | bigint
    | string
    | Uint8Array
    | RowValue[]
    | { [key: string]: RowValue };

/** A row: a plain object with the record's fields. Other properties are ignored. */
export type Row = { [field: string]: RowValue };

/**
 * A row as a subscription delivers it: `long` is a number when it is a safe
 * integer and a bigint beyond; `bytes` and `fixed` are Uint8Arrays.
 */
export type ReceivedRow = { [field: string]: ReceivedValue };
export type ReceivedValue =
    | null
    | boolean
    | number
    | bigint
    | string
    | Uint8Array
    | ReceivedValue[]
    | { [key: string]: ReceivedValue };

/** The client's counters. Every row written is open, pending, acked or dropped. */
export interface Stats {
    rowsWritten: number;
    rowsOpen: number;
    chunksSealed: number;
    rowsSealed: number;
    bytesSealed: number;
    batchesSent: number;
    chunksSent: number;
    chunksAcked: number;
    rowsAcked: number;
    bytesAcked: number;
    retries: number;
    chunksDroppedMemoryCap: number;
    rowsDroppedMemoryCap: number;
    chunksDroppedRejected: number;
    rowsDroppedRejected: number;
    chunksDroppedShutdown: number;
    rowsDroppedShutdown: number;
    chunksPending: number;
    rowsPending: number;
    bytesPending: number;
    /** Chunks of `bestEffort` metrics whose one attempt failed. */
    chunksDroppedBestEffort: number;
    rowsDroppedBestEffort: number;
    /** All rows dropped, for any reason. */
    rowsDropped: number;
}

/** What `close()` resolves with. */
export interface CloseReport {
    stats: Stats;
    /** Rows still undelivered when `drainTimeoutMs` ran out (counted in `stats.rowsDroppedShutdown`). */
    undeliveredRows: number;
}

/** An option (of the client, a metric or a subscription) is missing or wrong. */
export interface OptionError extends Error {
    name: "OptionError";
    /** The option's name, e.g. `"flushIntervalMs"`. */
    option: string;
}

/** The metric's schema is not a valid Avro record schema. */
export interface SchemaError extends Error {
    name: "SchemaError";
    /** Dotted path of the field at fault; empty for the top level. */
    field: string;
}

/** A row does not fit the schema; nothing of it (or of its `writeMany` batch) was buffered. */
export interface RowError extends Error {
    name: "RowError";
    /** Path of the field at fault (`"bytes"`, `"outer.inner"`, `"tags[2]"`); empty when the row itself is. */
    field: string;
    /** With `writeMany`: the index of the row at fault. */
    index?: number;
}

/** The client is closed. */
export interface ClosedError extends Error {
    name: "ClosedError";
}

/** `flush()` ran out of time: the rows stay buffered and keep being retried. */
export interface NotDeliveredError extends Error {
    name: "NotDeliveredError";
    pendingRows: number;
    /** The transport's last error, if a send failed. */
    lastError: string | null;
}

/** Rows written before `flush()` were dropped instead of delivered. */
export interface DroppedError extends Error {
    name: "DroppedError";
    rows: number;
    reason: string;
}

/** An error of a subscription, given to `onError` (and to `ready`'s rejection). */
export interface SubscriptionError extends Error {
    name: "SubscriptionError";
    /**
     * What went wrong: the collector `"refused"` the subscription (bad token, bad
     * collection name; it does not reconnect), the connection was
     * `"disconnected"`, `"closed"` by `close()`, a frame was `"unreadable"`, or
     * rows were `"missed"` because the subscriber fell behind (without `onMissed`).
     */
    kind: "refused" | "disconnected" | "closed" | "unreadable" | "missed";
    /** Whether the subscription reconnects by itself. */
    reconnecting: boolean;
}

/** Every error the package throws or rejects with. */
export type EdgemetricsError =
    | OptionError
    | SchemaError
    | RowError
    | ClosedError
    | NotDeliveredError
    | DroppedError
    | SubscriptionError;

/** Rows of one collection, as the collector stored them. */
export interface RowsBatch {
    collection: string;
    /** The cluster that wrote these rows (its `clusterId`). */
    clusterId: string;
    rows: ReceivedRow[];
    /** When the collector received them, Unix milliseconds. */
    receivedAtMs: number;
}

/** A constructor of WebSocket-like objects, such as `WebSocket` from the `ws` package. */
export type WebSocketConstructor = new (url: string) => unknown;

/** Options of `client.subscribe(...)`. */
export interface SubscribeOptions {
    /** The collections to receive rows of. */
    collections: string[];
    /** Receive only the rows these clusters wrote (every cluster's when absent). */
    clusters?: string[];
    /** Called with the rows of each stored chunk. */
    onRows: (batch: RowsBatch) => void;
    /** Called each time the collector confirms the subscription: at first, and after every reconnect. */
    onSubscribed?: () => void;
    /** Called when the connection drops (it reconnects), a frame is unreadable, or the collector refuses. */
    onError?: (error: SubscriptionError) => void;
    /** Called when the collector skipped rows because this subscriber fell behind (else `onError` is). */
    onMissed?: (missed: { collection: string; rows: number }) => void;
    /** Reconnect with backoff when the connection drops. Default true. */
    reconnect?: boolean;
    /** The WebSocket to use where the runtime has none (Node before 22). */
    WebSocket?: WebSocketConstructor;
}

/** Sends rows of typed metrics to the collector: buffered, chunked, flushed on an interval, retried until acknowledged. */
export class MetricClient {
    /** Checks the options (throws an `OptionError` naming the one at fault) and starts sending. */
    constructor(options: ClientOptions);
    /** A metric whose rows are encoded with `options.schema`. Throws `SchemaError` or `OptionError`. */
    metric(options: MetricOptions): Metric;
    /**
     * Seals every open chunk and resolves when all rows written before the call
     * are acknowledged. Rejects with `NotDeliveredError` after `drainTimeoutMs`
     * or `DroppedError` when some were dropped.
     */
    flush(): Promise<void>;
    /** Stops taking rows, delivers what is buffered within `drainTimeoutMs`, drops and counts the rest. */
    close(): Promise<CloseReport>;
    /** The counters so far. */
    stats(): Stats;
    /** Receives rows of `options.collections` as the collector stores them, over a WebSocket. */
    subscribe(options: SubscribeOptions): Subscription;
    /**
     * Releases the client's wasm memory: at once with `background: false`
     * (rows not delivered yet are dropped and counted, as after `close()`),
     * else once the background loop has sent what is buffered, as `close()`.
     */
    free(): void;
}

/** A metric: rows of one Avro record schema. Writes never wait on the network. */
export class Metric {
    private constructor();
    /** The collection the rows go to: the record's name. */
    readonly collection: string;
    /** Buffers one row; a row that does not fit throws a `RowError` naming the field, and nothing of it is buffered. */
    write(row: Row): void;
    /** Buffers all rows or none (the `RowError` gives the `index` and `field` at fault); returns how many. */
    writeMany(rows: Row[]): number;
    /** Hands the rows written so far to the client and makes this handle unusable. */
    free(): void;
}

/** A live subscription. */
export class Subscription {
    private constructor();
    /** Resolves once the collector confirmed the subscription; rejects if it refused it. */
    readonly ready: Promise<void>;
    /** Ends the subscription and closes its WebSocket. */
    close(): void;
    /** Kept for existing code; nothing to release beyond `close()`. */
    free(): void;
}
