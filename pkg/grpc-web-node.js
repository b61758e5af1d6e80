// edgemetrics for Node 18+ with the gRPC-web transport as well: the Node
// entry with a client that also speaks gRPC-web.
export { MetricClient } from "./lib/grpc-web.js";
export { Metric, Subscription, default, initSync } from "./node.js";
