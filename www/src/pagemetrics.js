// The page's own metrics, sent through the SDK to the `pageMetrics`
// collection: navigation timings and paints (PerformanceObserver), plus
// marks the dashboard sets itself (wasm loaded, first subscription live).

export const PAGE_METRICS_SCHEMA = {
    type: "record",
    name: "pageMetrics",
    fields: [
        { name: "page", type: "string" },
        { name: "session", type: "string" },
        { name: "metric", type: "string" },
        { name: "value_ms", type: "double" },
        { name: "user_agent", type: ["null", "string"], default: null },
    ],
};

/** What of a navigation entry is sent, as metric name → milliseconds since navigation start. */
const NAVIGATION = {
    "navigation.ttfb": (e) => e.responseStart,
    "navigation.response_end": (e) => e.responseEnd,
    "navigation.dom_interactive": (e) => e.domInteractive,
    "navigation.dom_content_loaded": (e) => e.domContentLoadedEventEnd,
    "navigation.load": (e) => e.loadEventEnd,
};

export class PageMetrics {
    constructor(client, page) {
        this.metric = client.metric({ schema: PAGE_METRICS_SCHEMA });
        this.page = page;
        this.session = Math.random().toString(36).slice(2, 12);
        this.sent = [];
    }

    /** Starts observing; entries that happened before are delivered too (`buffered`). */
    observe() {
        this.watch("paint", (entry) => this.record(entry.name, entry.startTime));
        this.watch("navigation", (entry) => {
            for (const [name, read] of Object.entries(NAVIGATION)) {
                const value = read(entry);
                if (value > 0) this.record(name, value);
            }
        });
    }

    watch(type, handle) {
        if (!PerformanceObserver.supportedEntryTypes?.includes(type)) return;
        new PerformanceObserver((list) => list.getEntries().forEach(handle)).observe({ type, buffered: true });
    }

    /** Writes one row now (sent with the SDK's next flush). */
    record(metric, valueMs) {
        this.metric.write({
            page: this.page,
            session: this.session,
            metric,
            value_ms: valueMs,
            user_agent: navigator.userAgent,
        });
        this.sent.push({ metric, valueMs });
    }
}
