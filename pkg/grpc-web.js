// edgemetrics for browsers, bundlers and Workers (the fetch + WebSocket + gRPC-web
// build). Call `init()` once before using the classes: it fetches the .wasm
// beside this file, or takes what you give it (a URL, a Response, bytes or
// a compiled WebAssembly.Module). `initSync(module)` does the same
// synchronously, e.g. in Cloudflare Workers with an imported module.
import wasmInit, { initSync as wasmInitSync, MetricClient, Metric, Subscription } from "./dist/grpc-web/edgemetrics.js";

import { install } from "./fast-write.js";

export { MetricClient, Metric, Subscription };

/** Loads the WebAssembly module; resolves when the classes are usable. */
export default async function init(input) {
    const wasm = await wasmInit(input === undefined ? undefined : { module_or_path: input });
    install(Metric, wasm.memory);
    return wasm;
}

/** Loads the WebAssembly module from a `WebAssembly.Module` or bytes, synchronously. */
export function initSync(module) {
    const wasm = wasmInitSync({ module });
    install(Metric, wasm.memory);
    return wasm;
}
