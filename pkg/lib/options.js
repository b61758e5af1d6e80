// Options objects, read and checked up front so that a mistake is reported
// by the option's name when it is made. The messages are the Rust client's.
import { kind, numberText, optionError } from "./errors.js";

/** Reads typed properties of an options object, refusing unknown names. */
export function reader(object, what, known) {
    if (typeof object !== "object" || object === null || Array.isArray(object)) throw optionError(what, "must be an object");
    for (const key of Object.keys(object)) {
        if (!known.includes(key)) throw optionError(what, `"${key}" is not an option; the options are ${known.join(", ")}`);
    }
    const get = (name, check, message) => {
        const value = object[name];
        if (value === undefined) return undefined;
        if (!check(value)) throw optionError(name, typeof message === "function" ? message(value) : message);
        return value;
    };
    return {
        get: (name) => object[name],
        string: (name) => get(name, (v) => typeof v === "string", "must be a string"),
        boolean: (name) => get(name, (v) => typeof v === "boolean", "must be true or false"),
        function: (name) => get(name, (v) => typeof v === "function", "must be a function"),
        /** A whole number greater than 0 (milliseconds, bytes). */
        positive: (name) => get(name, (v) => Number.isSafeInteger(v) && v >= 1,
            (v) => `must be a whole number greater than 0, not ${typeof v === "number" ? numberText(v) : kind(v)}`),
        /** A non-empty array of non-empty strings. */
        names: (name, of) => get(name, (v) => Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === "string" && s !== ""),
            `must be a non-empty array of ${of}`),
    };
}

/** Throws: `option` was not given. An expression, for `r.string(name) ?? missing(name)`. */
export function missing(option) {
    throw optionError(option, "is required");
}

/** The collector's rule for cluster ids: 1 to 128 of `A-Z a-z 0-9 . _ : -`. */
export function checkClusterId(id, option = "clusterId") {
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(id)) throw optionError(option, `"${id}" is not 1 to 128 characters of A-Z a-z 0-9 . _ : -`);
}

/** `https://host:port` (or `http://` when insecure) from `host:port` or a URL. */
export function baseUrl(addr, insecure) {
    const bad = (message) => optionError("apiAddr", message);
    const separator = addr.indexOf("://");
    const scheme = separator >= 0 ? addr.slice(0, separator).toLowerCase() : insecure ? "http" : "https";
    const rest = separator >= 0 ? addr.slice(separator + 3) : addr;
    if (scheme === "http" && !insecure) throw bad(`"${addr}" is plaintext; set insecure: true to allow it`);
    if (scheme === "https" && insecure) throw bad(`"${addr}" asks for TLS but insecure: true is set`);
    if (scheme !== "http" && scheme !== "https") throw bad(`"${addr}": the scheme must be http or https`);
    const authority = rest.replace(/\/+$/, "");
    const colon = authority.lastIndexOf(":");
    const port = authority.slice(colon + 1);
    if (!authority || /[/ ?#@]/.test(authority) || colon <= 0 || !/^\d{1,5}$/.test(port) || Number(port) > 65535) {
        throw bad(`"${addr}" is not host:port`);
    }
    return `${scheme}://${authority}`;
}
