// The few protobuf messages the package reads and writes besides the batch
// body (which the wasm core writes): `WriteMetricsResponse`, and the
// subscription's `SubscribeRequest` and `SubscribeEvent`. By hand, as
// src/wire.rs did for the same messages: a protobuf library would be most
// of the package's JavaScript.

/** Shared with ./encode.js (one such TextDecoder in a bundle). */
export const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const failed = (why) => new Error(`failed to decode Protobuf message: ${why}`);

/**
 * Calls `visit(number, value)` for each field of `bytes`: a number for
 * varints (exact to 2^53), a Uint8Array for length-delimited fields, and
 * for fixed64 its 8 bytes. `visit` returns false for a field of the wrong
 * wire type, which makes the message unreadable, as in prost.
 */
export function fields(bytes, visit) {
    let at = 0;
    const varint = () => {
        let value = 0;
        for (let i = 0; i < 10 && at < bytes.length; i++) {
            const byte = bytes[at++];
            value += (byte & 127) * 2 ** (7 * i);
            if (byte < 128) {
                if (i === 9 && byte > 1) break;
                return value;
            }
        }
        throw failed("invalid varint");
    };
    const take = (n) => {
        if (n > bytes.length - at) throw failed("buffer underflow");
        at += n;
        return bytes.subarray(at - n, at);
    };
    while (at < bytes.length) {
        const key = varint();
        const wire = key % 8;
        const value = wire === 0 ? varint() : wire === 1 ? take(8) : wire === 2 ? take(varint()) : wire === 5 ? take(4) : undefined;
        if (value === undefined) throw failed("unsupported wire type");
        if (key < 8) throw failed("invalid tag value: 0");
        if (visit(Math.floor(key / 8), value, wire) === false) throw failed("invalid wire type");
    }
}

/** A string field's text. */
export function string(bytes) {
    try {
        return strictUtf8.decode(bytes);
    } catch {
        throw failed("invalid string value: data is not UTF-8 encoded");
    }
}

/** `WriteMetricsResponse`: `{ success, error }` (error null when absent). */
export function readResponse(bytes) {
    const response = { success: false, error: null };
    fields(bytes, (number, value, wire) => {
        if (number === 1) {
            if (wire !== 0) return false;
            response.success = value !== 0;
        } else if (number === 2) {
            if (wire !== 2) return false;
            response.error = string(value);
        }
    });
    return response;
}
