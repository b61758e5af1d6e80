// What the Worker accepts and the rows it writes: `POST /events` with
// `{"events": [{name, path, value, session?, time_ms?}, ...]}`; each event
// becomes one row of the `edgeEvents` collection, with the country and
// data centre Cloudflare saw the request from (`request.cf`).

/** The Avro record schema of the rows; its name is the collection's. */
export const EVENTS_SCHEMA = {
    type: "record",
    name: "edgeEvents",
    fields: [
        { name: "name", type: "string", doc: "what happened, e.g. \"click\"" },
        { name: "path", type: "string", doc: "where, e.g. \"/pricing\"" },
        { name: "value", type: "double", doc: "a measurement: a duration, an amount" },
        { name: "session", type: ["null", "string"], default: null },
        { name: "time_ms", type: { type: "long", logicalType: "timestamp-millis" }, doc: "when, by the sender's clock" },
        { name: "country", type: ["null", "string"], default: null, doc: "request.cf.country" },
        { name: "colo", type: ["null", "string"], default: null, doc: "request.cf.colo" },
    ],
};

/** A request the Worker refuses with 4xx: `status` and a message naming the problem. */
export class BadRequest extends Error {
    name = "BadRequest";
    constructor(status, message, details = {}) {
        super(message);
        this.status = status;
        this.details = details;
    }
}

/**
 * Reads the body (at most `maxBodyBytes`, at most `maxEvents` events) and
 * turns it into rows. The types of the fields are checked by the SDK when
 * the rows are written (`writeMany` names the row and field at fault).
 */
export async function readEvents(request, { maxBodyBytes, maxEvents }) {
    const declared = Number(request.headers.get("content-length") ?? 0);
    if (declared > maxBodyBytes) throw tooLarge(maxBodyBytes);
    const text = await request.text();
    if (new TextEncoder().encode(text).length > maxBodyBytes) throw tooLarge(maxBodyBytes);
    let body;
    try {
        body = JSON.parse(text);
    } catch (error) {
        throw new BadRequest(400, `the body is not JSON: ${error.message}`);
    }
    const events = body?.events;
    if (!Array.isArray(events)) throw new BadRequest(400, 'the body must be {"events": [...]}');
    if (events.length === 0) throw new BadRequest(400, "no events");
    if (events.length > maxEvents) {
        throw new BadRequest(413, `${events.length} events in one request; at most ${maxEvents} (MAX_EVENTS)`);
    }
    const cf = request.cf ?? {};
    const receivedAt = Date.now();
    return events.map((event, index) => {
        if (event === null || typeof event !== "object" || Array.isArray(event)) {
            throw new BadRequest(400, `event ${index} is not an object`, { index });
        }
        return {
            name: event.name,
            path: event.path,
            value: event.value,
            session: event.session ?? null,
            time_ms: event.time_ms ?? receivedAt,
            country: typeof cf.country === "string" ? cf.country : null,
            colo: typeof cf.colo === "string" ? cf.colo : null,
        };
    });
}

function tooLarge(limit) {
    return new BadRequest(413, `the body is over ${limit} bytes (MAX_BODY_BYTES)`);
}
