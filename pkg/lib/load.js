// Instantiating the wasm core: from a compiled module or its bytes at once
// (Workers import the module compiled; Node reads the file), or from a URL
// or a fetch Response with streaming compilation where the browser has it.
import { instances } from "./core.js";

/** The loads in progress, by build (`default`, `instruments`). */
const loading = {};

/** Makes `instance` the core of `build`, unless one already is (clients hold handles into it). */
function start(build, instance) {
    return (instances[build] ??= instance.exports);
}

/** Instantiates `module` (a `WebAssembly.Module` or its bytes) as the core of `build`, synchronously. */
export function instantiateSync(module, build = "default") {
    if (instances[build]) return instances[build];
    if (!(module instanceof WebAssembly.Module)) module = new WebAssembly.Module(module);
    return start(build, new WebAssembly.Instance(module, {}));
}

/**
 * Instantiates the core of `build` from what `input` is or resolves to: a
 * URL (or its text) or `Request` to fetch, a `Response`, bytes, or a module.
 */
export function instantiate(input, build = "default") {
    if (instances[build]) return Promise.resolve(instances[build]);
    // Calls that overlap share one instantiation.
    loading[build] ??= load(input, build).finally(() => (loading[build] = null));
    return loading[build];
}

async function load(input, build) {
    input = await input;
    if (typeof input === "string" || input instanceof URL || (typeof Request === "function" && input instanceof Request)) {
        input = await fetch(input);
    }
    if (typeof Response === "function" && input instanceof Response) {
        if (!input.ok) throw new Error(`edgemetrics: the .wasm could not be fetched: HTTP ${input.status} from ${input.url}`);
        // Streaming compilation needs the application/wasm type; servers that
        // send another get the bytes compiled after the download instead.
        if (WebAssembly.instantiateStreaming && input.headers.get("content-type")?.startsWith("application/wasm")) {
            return start(build, (await WebAssembly.instantiateStreaming(input, {})).instance);
        }
        input = await input.arrayBuffer();
    }
    // A module instantiates to an instance, bytes to `{ module, instance }`.
    const result = await WebAssembly.instantiate(input, {});
    return start(build, result.instance ?? result);
}
