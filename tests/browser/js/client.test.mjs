// The client suite (suite/client.mjs) in Node, with the package's Node
// entry, against the collector the harness started. Run through harness.mjs.
import { test } from "node:test";
import { tests } from "./suite/client.mjs";
import { tests as instrumentTests } from "./suite/instruments.mjs";
import { MetricClient } from "../../../pkg/grpc-web-node.js";
import { MetricClient as InstrumentClient } from "../../../pkg/instruments-node.js";

const env = { collector: process.env.EDGEMETRICS_COLLECTOR_URL, control: process.env.EDGEMETRICS_CONTROL_URL, token: process.env.EDGEMETRICS_TOKEN };
const WebSocket = globalThis.WebSocket ?? (await import("ws")).default;

for (const [name, run] of Object.entries(tests)) {
    test(name, { timeout: 60000 }, () => run({ MetricClient, env, WebSocket }));
}
for (const [name, run] of Object.entries(instrumentTests)) {
    test(`instruments: ${name}`, { timeout: 60000 }, () => run({ MetricClient: InstrumentClient, env }));
}
