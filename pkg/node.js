// edgemetrics for Node 18+ (the fetch + WebSocket build), ready on import:
// the .wasm is read from beside this file. `init()` is kept so that code
// written for the browser entry runs unchanged.
import { readFileSync } from "node:fs";
import { install } from "./fast-write.js";
import { initSync as wasmInitSync, MetricClient, Metric, Subscription } from "./dist/default/edgemetrics.js";

const wasm = wasmInitSync({ module: readFileSync(new URL("./dist/default/edgemetrics_bg.wasm", import.meta.url)) });
install(Metric, wasm.memory);

export { MetricClient, Metric, Subscription };

/** Already done on import in Node; resolves at once. */
export default async function init() {}

/** Already done on import in Node. */
export function initSync() {}
