// Instantiating the wasm core: from a compiled module or its bytes at once
// (Workers import the module compiled; Node reads the file), or from a URL
// or a fetch Response with streaming compilation where the browser has it.
import { ready, setCore } from "./core.js";

let exports = null;
let loading = null;

/** Makes `instance` the core, unless one already is (clients hold handles into it). */
function start(instance) {
    if (exports === null) {
        exports = instance.exports;
        setCore(exports);
    }
    return exports;
}

/** Instantiates `module` (a `WebAssembly.Module` or its bytes) synchronously. */
export function instantiateSync(module) {
    if (ready()) return exports;
    if (!(module instanceof WebAssembly.Module)) module = new WebAssembly.Module(module);
    return start(new WebAssembly.Instance(module, {}));
}

/**
 * Instantiates the module from what `input` is or resolves to: a URL (or
 * its text) or `Request` to fetch, a `Response`, bytes, or a module.
 */
export function instantiate(input) {
    if (ready()) return Promise.resolve(exports);
    // Calls that overlap share one instantiation.
    loading ??= load(input).finally(() => (loading = null));
    return loading;
}

async function load(input) {
    input = await input;
    if (typeof input === "string" || input instanceof URL || (typeof Request === "function" && input instanceof Request)) {
        input = await fetch(input);
    }
    if (typeof Response === "function" && input instanceof Response) {
        if (!input.ok) throw new Error(`edgemetrics: the .wasm could not be fetched: HTTP ${input.status} from ${input.url}`);
        // Streaming compilation needs the application/wasm type; servers that
        // send another get the bytes compiled after the download instead.
        if (WebAssembly.instantiateStreaming && input.headers.get("content-type")?.startsWith("application/wasm")) {
            return start((await WebAssembly.instantiateStreaming(input, {})).instance);
        }
        input = await input.arrayBuffer();
    }
    if (input instanceof WebAssembly.Module) return start(await WebAssembly.instantiate(input, {}));
    return start((await WebAssembly.instantiate(input, {})).instance);
}
