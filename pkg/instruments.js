// edgemetrics with instruments (counters, gauges, histograms, summaries,
// timers) for browsers, bundlers and Workers: the default entry's API, a
// client with instrument methods, and a wasm core with the engine's
// instruments (loaded by `init()`, as the default entry's; a page that also
// uses the default entry loads both).
import { instantiate, instantiateSync } from "./lib/load.js";

export { MetricClient, Counter, Gauge, Histogram, Timer } from "./lib/instruments.js";
export { Metric } from "./lib/metric.js";
export { Subscription } from "./lib/subscription.js";

/** Loads the WebAssembly module; resolves when the classes are usable. */
export default function init(input) {
    return instantiate(input ?? new URL("./dist/edgemetrics-instruments.wasm", import.meta.url), "instruments");
}

/** Loads the WebAssembly module from a `WebAssembly.Module` or its bytes, synchronously. */
export function initSync(module) {
    return instantiateSync(module, "instruments");
}
