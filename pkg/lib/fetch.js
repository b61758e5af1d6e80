// The fetch transport: `POST /v1/metrics` of the protobuf batch, gzip
// through the runtime's `CompressionStream` where it has one, and the
// `keepalive` variant that outlives the page. A send resolves with `null`
// when the collector acknowledged the batch, or with the failure
// `{ message, retryable, retryAfterMs }`; it never rejects.
import { readResponse } from "./proto.js";

/** Bodies smaller than this are sent as they are: gzip would save little. */
const GZIP_MIN_BYTES = 1024;
const text = new TextDecoder();

/** A failure worth retrying. */
export const retry = (message, retryAfterMs = -1) => ({ message, retryable: true, retryAfterMs });

/** A failure no retry will mend. */
export const reject = (message) => ({ message, retryable: false, retryAfterMs: -1 });

/** The `retry-after` header in milliseconds (whole seconds, as the collector sends it), or -1. */
export function retryAfter(headers) {
    const value = headers.get("retry-after")?.trim();
    return value && /^\d+$/.test(value) ? Number(value) * 1000 : -1;
}

/** The collector's answer to an accepted request. */
export const accepted = (response) => (response.success ? null : reject(response.error ?? "rejected without a message"));

/**
 * `fetch(url, init)` that gives up after the client's `requestTimeoutMs`;
 * resolves with the response and its body, or with a failure.
 */
export async function request(client, url, init) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), client.requestTimeoutMs);
    try {
        const response = await fetch(url, { ...init, method: "POST", signal: abort.signal });
        return { response, body: new Uint8Array(await response.arrayBuffer()) };
    } catch (e) {
        if (abort.signal.aborted) return retry(`no answer within requestTimeoutMs (${client.requestTimeoutMs} ms)`);
        // Network down, CORS refused: the runtime's message says which.
        return retry(`POST ${url}: ${e?.message ?? e}`);
    } finally {
        clearTimeout(timer);
    }
}

/**
 * Sends `body` (a `WriteMetricsBatchRequest`) once, gzipped when the client
 * asks for it and it is worth it (never with `keepalive`, whose request must
 * start at once).
 */
export async function sendFetch(client, body, keepalive = false, gzip = !keepalive && client.gzip) {
    const url = `${client.url}/v1/metrics`;
    const headers = {
        authorization: `Token ${client.token}`,
        "x-cluster-id": client.clusterId,
        "content-type": "application/x-protobuf",
    };
    if (gzip && body.length >= GZIP_MIN_BYTES && typeof CompressionStream === "function") {
        try {
            const stream = new Response(body).body.pipeThrough(new CompressionStream("gzip"));
            body = new Uint8Array(await new Response(stream).arrayBuffer());
            headers["content-encoding"] = "gzip";
        } catch (e) {
            return retry(`POST ${url}: ${e?.message ?? e}`);
        }
    }
    const answer = await request(client, url, { headers, body, keepalive });
    if (!answer.response) return answer;
    const { response, body: bytes } = answer;
    if (response.status === 200) {
        try {
            return accepted(readResponse(bytes));
        } catch (e) {
            return reject(`unreadable response: ${e.message}`);
        }
    }
    const message = `HTTP ${response.status} from POST ${url}: ${text.decode(bytes).trim()}`;
    const status = response.status;
    return status === 408 || status === 429 || (status >= 500 && status < 600) ? retry(message, retryAfter(response.headers)) : reject(message);
}
