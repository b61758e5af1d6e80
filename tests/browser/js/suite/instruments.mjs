// The instruments of `edgemetrics/instruments` against the real collector,
// the same in Node (client.test.mjs) and in headless Chromium
// (browser.test.mjs): every kind arrives as rows of its collection and
// reads back equal; labels in any order are one series; bad names, labels
// and values throw naming them; the cardinality limit's overflow series.
import { check } from "./client.mjs";

const unique = (prefix) => `${prefix}.${Math.random().toString(16).slice(2, 10)}`;
const options = (env, extra = {}) => ({
    apiAddr: env.collector, apiToken: env.token, clusterId: "instruments", insecure: true, instrumentIntervalMs: 3_600_000, ...extra,
});

/** The rows of `collection` named `name`, sorted by their labels. */
async function rows(env, collection, name) {
    const response = await fetch(`${env.collector}/api/collections/${collection}/rows?limit=10000&token=${env.token}`);
    check.equal(response.status, 200, `rows of ${collection}`);
    return (await response.json()).rows.filter((r) => r.name === name).sort((a, b) => JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)));
}

export const tests = {
    "every kind of instrument arrives as rows of its collection": async ({ MetricClient, env }) => {
        const client = new MetricClient(options(env));
        const name = unique("web");
        const requests = client.counter(`${name}.requests`, { unit: "1", description: "requests" });
        const depth = client.upDownCounter(`${name}.depth`);
        const temperature = client.gauge(`${name}.temperature`, { unit: "Cel" });
        const latency = client.histogram(`${name}.latency`, { unit: "ms", bounds: [10, 100] });
        const sizes = client.exponentialHistogram(`${name}.size`);
        const rtt = client.summary(`${name}.rtt`);
        const timer = client.timer(`${name}.job`);
        for (let i = 0; i < 100; i++) {
            requests.add(1, { route: "/", code: 200 });
            latency.record(i, { route: "/" });
            sizes.record((i + 1) * 10);
            rtt.record(i + 1);
        }
        requests.add(3, { code: "500", route: "/a" });
        const bound = requests.bind({ route: "/", code: "200" });
        bound.add(10);
        depth.add(5);
        depth.add(-2);
        temperature.set(21.5, { room: "a" });
        await timer.time({}, () => new Promise((ok) => setTimeout(ok, 5)));
        await client.flush();

        const counters = await rows(env, "counters", `${name}.requests`);
        check.deepEqual(counters.map((r) => [r.labels, r.value, r.temporality, r.monotonic, r.overflow]), [
            [{ code: "200", route: "/" }, 110, "delta", true, false],
            [{ code: "500", route: "/a" }, 3, "delta", true, false],
        ], "counters");
        check.equal((await rows(env, "counters", `${name}.depth`))[0].value, 3, "up-down counter");
        check.equal((await rows(env, "gauges", `${name}.temperature`))[0].value, 21.5, "gauge");
        const histogram = (await rows(env, "histograms", `${name}.latency`))[0];
        check.deepEqual([histogram.count, histogram.sum, histogram.bucket_counts, histogram.bounds], [100, 4950, [11, 89, 0], [10, 100]], "histogram");
        const exponential = (await rows(env, "exponential_histograms", `${name}.size`))[0];
        check.deepEqual([exponential.count, exponential.sum, exponential.min, exponential.max], [100, 50500, 10, 1000], "exponential histogram");
        const median = (await rows(env, "summaries", `${name}.rtt`))[0].quantiles.find((q) => q.quantile === 0.5).value;
        check.ok(Math.abs(median - 50) <= 0.5, `median ${median}`);
        const job = (await rows(env, "histograms", `${name}.job`))[0];
        check.ok(job.count === 1 && job.sum >= 0.004 && job.unit === "s", `timer ${JSON.stringify(job)}`);
        await client.close();
    },

    "a label set seen again is its series, whatever the order, the value's type or the object": async ({ MetricClient, env }) => {
        const client = new MetricClient(options(env));
        const name = unique("seen");
        const hits = client.counter(name);
        const labels = { route: "/" };
        for (let i = 0; i < 3; i++) {
            hits.add(1, labels);
            hits.add(2, { route: "/", code: 200 });
            hits.add(4, { code: "200", route: "/" });
            hits.add(8, {});
            hits.add(16);
        }
        // The same object with another value is another series.
        labels.route = "/b";
        hits.add(32, labels);
        check.throws(() => hits.add(1, { route: Symbol("x") }), { name: "InstrumentError", what: "label", subject: "route" });
        await client.flush();
        const stored = (await rows(env, "counters", name)).map((r) => [JSON.stringify(r.labels), r.value]).sort();
        check.deepEqual(stored, [['{"code":"200","route":"/"}', 18], ['{"route":"/"}', 3], ['{"route":"/b"}', 32], ["{}", 72]]);
        await client.close();
    },

    "bad instruments, labels and values throw naming them": async ({ MetricClient, env }) => {
        const client = new MetricClient(options(env));
        const counter = client.counter(unique("bad"));
        check.throws(() => counter.add(-1), { name: "InstrumentError", what: "value", message: "value -1 is negative: a counter only adds" });
        check.throws(() => counter.add(NaN), { name: "InstrumentError", message: "value NaN is not a number" });
        check.throws(() => counter.add("1"), { name: "InstrumentError", message: "value must be a number, not a string" });
        check.throws(() => counter.add(1, { "bad-key": "x" }), { name: "InstrumentError", what: "label", subject: "bad-key" });
        check.throws(() => client.counter("9lives"), {
            name: "InstrumentError", what: "name",
            message: 'name "9lives" is not an instrument name: 1 to 255 of [A-Za-z0-9_.-], starting with a letter',
        });
        check.throws(() => client.gauge(counter.name), { name: "InstrumentError", message: `name "${counter.name}" is already an instrument of another kind` });
        check.throws(() => client.histogram(unique("h"), { bounds: [2, 1] }), { name: "InstrumentError", what: "bounds" });
        check.throws(() => new MetricClient(options(env, { temporality: "sometimes" })), { name: "OptionError", option: "temporality" });
        await client.close();
    },

    "past the cardinality limit values go to the overflow series; cumulative rows carry totals": async ({ MetricClient, env }) => {
        const client = new MetricClient(options(env, { cardinalityLimit: 3, temporality: "cumulative" }));
        const name = unique("hits");
        const hits = client.counter(name);
        for (const user of ["a", "b", "c", "d", "e"]) hits.add(1, { user });
        await client.flush();
        hits.add(1, { user: "a" });
        await client.flush();
        const stored = await rows(env, "counters", name);
        const overflow = stored.filter((r) => r.overflow);
        check.deepEqual(overflow.map((r) => [r.labels, r.value]), [[{ "otel.metric.overflow": "true" }, 2]], "overflow");
        check.deepEqual(stored.filter((r) => r.labels.user === "a").map((r) => r.value), [1, 2], "totals");
        check.deepEqual(client.instrumentStats(), { instruments: 1, series: 3, overflowed: 2 });
        await client.close();
    },
};
