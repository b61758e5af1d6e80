// edgemetrics for Node 18+, ready on import: the .wasm is read from this
// package's dist/. `init()` and `initSync()` are kept so that code written
// for the browser entry runs unchanged.
import { readFileSync } from "node:fs";
import { instantiateSync } from "./lib/load.js";

instantiateSync(readFileSync(new URL("./dist/edgemetrics.wasm", import.meta.url)));

export { MetricClient } from "./lib/client.js";
export { Metric } from "./lib/metric.js";
export { Subscription } from "./lib/subscription.js";

/** Already done on import in Node; resolves at once. */
export default async function init() {}

/** Already done on import in Node. */
export function initSync() {}
