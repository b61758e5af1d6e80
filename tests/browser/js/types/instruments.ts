// Compiled with --strict against the packed package's declarations by
// package.test.mjs: the instruments' documented usage type-checks, and a
// few mistakes do not.
import init, { MetricClient, type Counter, type InstrumentError, type Stats } from "edgemetrics/instruments";

export async function instruments(): Promise<Stats> {
    await init();
    const client = new MetricClient({
        apiAddr: "https://collector.example:443",
        apiToken: "token",
        clusterId: "web",
        instrumentIntervalMs: 10_000,
        temporality: "cumulative",
        cardinalityLimit: 500,
    });
    const requests: Counter = client.counter("http.requests", { unit: "1", description: "requests" });
    requests.add(1, { route: "/", code: 200, cached: false });
    const latency = client.histogram("http.latency", { unit: "ms", bounds: [5, 10, 50] });
    latency.bind({ route: "/" }).record(12.5);
    client.gauge("queue.size").set(3n);
    const seconds: number = client.timer("job").start({ kind: "daily" }).stop();
    const answer: Promise<string> = client.timer("fetch").time({}, async () => "ok");
    void seconds;
    void answer;
    try {
        requests.add(-1);
    } catch (error) {
        const e = error as InstrumentError;
        console.warn(e.what, e.message);
    }
    // @ts-expect-error: labels are strings, numbers or booleans
    requests.add(1, { route: ["/"] });
    // @ts-expect-error: not a temporality
    new MetricClient({ apiAddr: "a:1", apiToken: "t", clusterId: "c", temporality: "sometimes" });
    return client.stats();
}
