// edgemetrics with the gRPC-web transport as well (`transport: "grpc-web"`),
// for collectors behind a gRPC-web proxy: the default entry with a client
// that also speaks gRPC-web.
export { MetricClient } from "./lib/grpc-web.js";
export { Metric, Subscription, default, initSync } from "./index.js";
