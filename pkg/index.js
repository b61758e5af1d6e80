// edgemetrics for browsers, bundlers and Workers: writing metrics over
// fetch, and live subscriptions (whose code loads on the first
// `subscribe`). Call `init()` once before using the classes: it fetches the
// .wasm beside this package's dist/, or takes what you give it (a URL, a
// Response, bytes or a compiled WebAssembly.Module). `initSync(module)`
// does the same synchronously, e.g. in Cloudflare Workers with an imported
// module.
import { instantiate, instantiateSync } from "./lib/load.js";

export { MetricClient } from "./lib/client.js";
export { Metric } from "./lib/metric.js";
export { Subscription } from "./lib/subscription.js";

/** Loads the WebAssembly module; resolves when the classes are usable. */
export default function init(input) {
    return instantiate(input ?? new URL("./dist/edgemetrics.wasm", import.meta.url));
}

/** Loads the WebAssembly module from a `WebAssembly.Module` or its bytes, synchronously. */
export function initSync(module) {
    return instantiateSync(module);
}
