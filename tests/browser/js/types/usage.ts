// Compiled with --strict against the packed package's declarations by
// package.test.mjs: the documented usage must type-check, and a few
// mistakes must not (the @ts-expect-error lines).
import init, { MetricClient, type ClientEvent, type EdgemetricsError, type RowsBatch, type Stats } from "edgemetrics";

export async function usage(): Promise<Stats> {
    await init();
    const client = new MetricClient({
        apiAddr: "https://collector.example:443",
        apiToken: "token",
        clusterId: "web",
        transport: "fetch",
        flushIntervalMs: 200,
        onEvent: (event: ClientEvent) => {
            if (event.type === "dropped" && event.reason === "best_effort") console.warn(event.collection, event.rows);
            else if (event.type === "dropped") console.warn(event.reason, event.rows);
        },
    });
    const requests = client.metric({
        schema: {
            type: "record",
            name: "requests",
            fields: [
                { name: "route", type: "string" },
                { name: "status", type: "int" },
                { name: "latency_ms", type: "double" },
                { name: "bytes", type: "long" },
                { name: "tags", type: { type: "array", items: "string" } },
                { name: "user", type: ["null", "string"], default: null },
            ],
        },
        maxChunkSize: 64 * 1024,
        delivery: "atLeastOnce",
    });
    const clicks = client.metric({ schema: '{"type":"record","name":"clicks","fields":[]}', delivery: "bestEffort" });
    clicks.write({});
    // @ts-expect-error: not a delivery
    client.metric({ schema: "{}", delivery: "sometimes" });
    requests.write({ route: "/", status: 200, latency_ms: 1.5, bytes: 12n, tags: ["a"], user: null });
    const count: number = requests.writeMany([{ route: "/a", status: 404, latency_ms: 2, bytes: 3, tags: [] }]);
    try {
        requests.write({ route: 5 });
    } catch (e) {
        const error = e as EdgemetricsError;
        if (error.name === "RowError") console.log(error.field, error.index);
    }
    const subscription = client.subscribe({
        collections: ["requests"],
        clusters: ["prod-eu"],
        onRows: (batch: RowsBatch) => console.log(batch.collection, batch.clusterId, batch.rows.length, batch.receivedAtMs),
        onSubscribed: () => console.log("live"),
        onError: (error) => {
            if (error.kind === "refused") console.log("check the token", error.message);
            else console.log(error.kind, error.reconnecting);
            // @ts-expect-error: not a kind
            if (error.kind === "refusd") console.log(error);
        },
    });
    await subscription.ready;
    subscription.close();
    await client.flush();
    const report = await client.close();
    // @ts-expect-error: not a transport
    new MetricClient({ apiAddr: "a:1", apiToken: "t", clusterId: "c", transport: "grpc" });
    // @ts-expect-error: apiToken is required
    new MetricClient({ apiAddr: "a:1", clusterId: "c" });
    // @ts-expect-error: a row is an object
    requests.write("route=/");
    const dropped: number = report.stats.rowsDroppedBestEffort + report.stats.chunksDroppedBestEffort;
    return count > dropped ? report.stats : client.stats();
}
