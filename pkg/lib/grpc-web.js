// The gRPC-web transport: the unary `IngestionAPI/WriteMetricsBatch` call
// (browsers cannot stream requests) over fetch, framed by hand: one data
// frame out (flag 0, big-endian length, the message); back, data frames
// and a trailer frame (flag 0x80) of `name: value` lines carrying
// `grpc-status`. The request message is the same bytes as the fetch
// transport's body.
import { MetricClient as Client } from "./client.js";
import { accepted, reject, request, retry, retryAfter } from "./fetch.js";
import { readResponse } from "./proto.js";

const PATH = "/metrics.v1beta.IngestionAPI/WriteMetricsBatch";
const CODES = [
    "Ok", "Cancelled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
    "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
    "Internal", "Unavailable", "DataLoss", "Unauthenticated",
];
/** Codes a retry may mend, as for the native client (src/client/address.rs). */
const RETRYABLE = [1, 2, 4, 8, 10, 13, 14];
const text = new TextDecoder();

/**
 * Reads a gRPC-web answer's frames: returns the (last) data frame's
 * message, or null, and adds the trailer frame's `name: value` lines to
 * `trailers`. A frame cut short is read as far as it goes.
 */
export function readFrames(bytes, trailers) {
    let message = null;
    for (let at = 0; at + 5 <= bytes.length;) {
        const length = new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0);
        const frame = bytes.subarray(at + 5, at + 5 + length);
        if (bytes[at] & 0x80) {
            for (const line of text.decode(frame).split("\r\n")) {
                const colon = line.indexOf(":");
                if (colon > 0) trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
            }
        } else {
            message = frame;
        }
        at += 5 + length;
    }
    return message;
}

/** Sends `body` once as a gRPC-web call; resolves with null or a failure. */
export async function sendGrpcWeb(client, body) {
    const framed = new Uint8Array(5 + body.length);
    new DataView(framed.buffer).setUint32(1, body.length);
    framed.set(body, 5);
    const answer = await request(client, client.url + PATH, {
        headers: {
            authorization: `Token ${client.token}`,
            "x-cluster-id": client.clusterId,
            "content-type": "application/grpc-web+proto",
            "x-grpc-web": "1",
        },
        body: framed,
    });
    if (!answer.response) return answer;
    const { response, body: bytes } = answer;
    // Trailers come in the last frame, or as headers when there is no body.
    const trailers = new Map();
    for (const [name, value] of response.headers) trailers.set(name.toLowerCase(), value);
    const message = readFrames(bytes, trailers);
    const status = trailers.get("grpc-status");
    if (status === undefined) {
        const failure = `HTTP ${response.status} from POST ${client.url}${PATH} without a gRPC status`;
        return response.status === 408 || response.status === 429 || response.status >= 500 ? retry(failure) : reject(failure);
    }
    const code = Number(status);
    if (code === 0) {
        try {
            return accepted(readResponse(message ?? new Uint8Array()));
        } catch (e) {
            return reject(`unreadable response: ${e.message}`);
        }
    }
    let detail = trailers.get("grpc-message") ?? "";
    try {
        detail = decodeURIComponent(detail);
    } catch {
        // Not percent-encoded after all: as it came.
    }
    const failure = `gRPC-web ${CODES[code] ?? `Code(${code})`}${detail ? `: ${detail}` : ""}`;
    return RETRYABLE.includes(code) ? retry(failure, retryAfter(trailers)) : reject(failure);
}

/** The client of `edgemetrics/grpc-web`: `transport: "grpc-web"` as well as fetch. */
export class MetricClient extends Client {
    static transports = { ...Client.transports, "grpc-web": sendGrpcWeb };
}
