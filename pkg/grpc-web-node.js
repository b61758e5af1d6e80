// edgemetrics for Node 18+ with the gRPC-web transport as well: the Node
// entry plus the gRPC-web framing.
import { transports } from "./lib/client.js";
import { sendGrpcWeb } from "./lib/grpc-web.js";

transports["grpc-web"] = sendGrpcWeb;

export * from "./node.js";
export { default } from "./node.js";
