// edgemetrics with the gRPC-web transport as well (`transport: "grpc-web"`):
// the default entry plus the gRPC-web framing, for collectors behind a
// gRPC-web proxy. Everything else is the default entry's.
import { transports } from "./lib/client.js";
import { sendGrpcWeb } from "./lib/grpc-web.js";

transports["grpc-web"] = sendGrpcWeb;

export * from "./index.js";
export { default } from "./index.js";
