// The Worker's settings, read from its env bindings (wrangler.toml `[vars]`
// and secrets). A missing or malformed one is reported by name.

/** Settings with their defaults; `COLLECTOR_URL`, `TOKEN` and `CLUSTER_ID` are required. */
export function readConfig(env) {
    const collectorUrl = required(env, "COLLECTOR_URL");
    const token = required(env, "TOKEN");
    const clusterId = required(env, "CLUSTER_ID");
    return {
        collectorUrl,
        token,
        clusterId,
        // Plaintext http:// only when asked for (a local collector in development).
        insecure: flag(env, "INSECURE"),
        // How long one request's flush may retry before it is reported as failed.
        flushTimeoutMs: number(env, "FLUSH_TIMEOUT_MS", 5000, 100, 25000),
        // The longest wait between two attempts of that flush.
        maxRetryIntervalMs: number(env, "MAX_RETRY_INTERVAL_MS", 1000, 10, 15000),
        maxEvents: number(env, "MAX_EVENTS", 1000, 1, 100000),
        maxBodyBytes: number(env, "MAX_BODY_BYTES", 1 << 20, 1, 100 << 20),
    };
}

/** A configuration error: the Worker answers 500 with this message. */
export class ConfigError extends Error {
    name = "ConfigError";
}

function required(env, name) {
    const value = env[name];
    if (typeof value !== "string" || value === "") {
        throw new ConfigError(`the binding ${name} is not set (wrangler.toml [vars] or \`wrangler secret put ${name}\`)`);
    }
    return value;
}

function flag(env, name) {
    const value = env[name];
    if (value === undefined || value === "" || value === "false" || value === false) return false;
    if (value === "true" || value === true) return true;
    throw new ConfigError(`the binding ${name} must be "true" or "false", not ${JSON.stringify(value)}`);
}

function number(env, name, fallback, min, max) {
    const value = env[name];
    if (value === undefined || value === "") return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
        throw new ConfigError(`the binding ${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(value)}`);
    }
    return n;
}
