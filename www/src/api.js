// The collector's JSON query API, authenticated with the page's token.

/** The collector answered 401: the token is wrong. */
export class Unauthorized extends Error {
    name = "Unauthorized";
}

/** The collection does not exist (yet): no rows of it were stored. */
export class NotFound extends Error {
    name = "NotFound";
}

/** The collector could not be reached (or answered 5xx). */
export class Unreachable extends Error {
    name = "Unreachable";
}

export class Api {
    constructor(origin, token) {
        this.origin = origin;
        this.token = token;
    }

    async get(path) {
        let response;
        try {
            response = await fetch(`${this.origin}${path}`, {
                headers: { authorization: `Token ${this.token}` },
                cache: "no-store",
            });
        } catch (error) {
            throw new Unreachable(`the collector does not answer (${error.message})`);
        }
        if (response.status === 401) throw new Unauthorized("the collector refused the token");
        if (response.status >= 500) throw new Unreachable(`the collector answered ${response.status}`);
        const body = await response.json();
        if (response.status === 404) throw new NotFound(body.error ?? `GET ${path}: 404`);
        if (!response.ok) throw new Error(body.error ?? `GET ${path}: ${response.status}`);
        return body;
    }

    /** `[{name, rows, fields: [{name, type, server_timestamp?}]}]` */
    async collections() {
        return (await this.get("/api/collections")).collections;
    }

    /** The newest stored row of `name`, or null. */
    async latest(name) {
        return (await this.get(`/api/collections/${encodeURIComponent(name)}/latest`)).row;
    }

    /** `[{collection, name, kind, unit, description, series, rows, last_ms}]` */
    async instruments() {
        return (await this.get("/api/instruments")).instruments;
    }

    /** A chart of one instrument: `{kind, t, rate|value|values, ...}` per step. */
    async instrumentPoints(collection, name, query) {
        const path = `/api/instruments/${encodeURIComponent(collection)}/${encodeURIComponent(name)}`;
        return this.get(`${path}?${new URLSearchParams(query)}`);
    }

    /** One numeric field per step of receive time: `{t, count, min, max, avg}`. */
    async series(name, query) {
        return this.get(`/api/collections/${encodeURIComponent(name)}/series?${new URLSearchParams(query)}`);
    }

    /** `{rows, fields: {field: {count, min, max, avg, stddev}}}` */
    async stats(name) {
        return this.get(`/api/collections/${encodeURIComponent(name)}/stats`);
    }
}

const NUMERIC = new Set(["int", "long", "float", "double"]);

/** Whether an Avro type (canonical form, as /api/collections gives it) holds numbers. */
export function isNumericType(type) {
    if (typeof type === "string") return NUMERIC.has(type);
    if (Array.isArray(type)) {
        const branches = type.filter((branch) => branch !== "null");
        return branches.length === 1 && isNumericType(branches[0]);
    }
    return typeof type === "object" && type !== null && isNumericType(type.type);
}

/** The numeric fields of a collection that rows carry (not the collector's own receive time). */
export function numericFields(collection) {
    return collection.fields.filter((field) => !field.server_timestamp && isNumericType(field.type)).map((f) => f.name);
}
