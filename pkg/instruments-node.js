// edgemetrics with instruments for Node 18+, ready on import.
import { readFileSync } from "node:fs";
import { instantiateSync } from "./lib/load.js";

instantiateSync(readFileSync(new URL("./dist/edgemetrics-instruments.wasm", import.meta.url)), "instruments");

export { MetricClient, Counter, Gauge, Histogram, Timer } from "./lib/instruments.js";
export { Metric } from "./lib/metric.js";
export { Subscription } from "./lib/subscription.js";

/** Already done on import in Node; resolves at once. */
export default async function init() {}

/** Already done on import in Node. */
export function initSync() {}
