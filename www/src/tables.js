// The page's tables: collections, latest rows, statistics from the query
// API, and the SDK's own counters.
import { h, display, time } from "./dom.js";
import { formatNumber } from "./chart.js";

/** Collections with stored rows (query API) and live rows per second (feed). */
export function renderCollections(tbody, collections, series, selected, onSelect) {
    tbody.replaceChildren(
        ...collections.map((c) =>
            h(
                "tr",
                { class: c.name === selected ? "selected" : null, "data-name": c.name, onclick: () => onSelect(c.name) },
                h("td", {}, c.name),
                h("td", { class: "n" }, c.rows.toLocaleString()),
                h("td", { class: "n" }, series.rate(c.name).toFixed(1)),
            ),
        ),
    );
}

/** The newest rows first: `entries` are `{row, receivedAtMs}`; columns in the schema's `order` where known. */
export function renderLatest(table, entries, order = []) {
    const present = new Set(entries.flatMap(({ row }) => Object.keys(row)));
    const columns = [...new Set([...order.filter((name) => present.has(name)), ...present])];
    const numeric = (name) => typeof entries[0]?.row[name] === "number";
    table.replaceChildren(
        h("thead", {}, h("tr", {}, h("th", {}, "received"), columns.map((name) => h("th", { class: numeric(name) ? "n" : null }, name)))),
        h(
            "tbody",
            {},
            entries.map(({ row, receivedAtMs }) =>
                h(
                    "tr",
                    {},
                    h("td", {}, receivedAtMs ? time(receivedAtMs) : "stored"),
                    columns.map((name) => h("td", { class: typeof row[name] === "number" ? "n" : null }, display(row[name]))),
                ),
            ),
        ),
    );
}

/** `/api/collections/{name}/stats`: one line per numeric field (not `skip`, the receive-time column). */
export function renderStats(table, stats, skip = []) {
    const head = ["field", "count", "min", "max", "avg", "stddev"];
    const value = (v) => (v === null || v === undefined ? "–" : formatNumber(v));
    table.replaceChildren(
        h("thead", {}, h("tr", {}, head.map((name, i) => h("th", { class: i > 0 ? "n" : null }, name)))),
        h(
            "tbody",
            {},
            Object.entries(stats.fields).filter(([field]) => !skip.includes(field)).map(([field, s]) =>
                h(
                    "tr",
                    { "data-field": field },
                    h("td", {}, field),
                    h("td", { class: "n" }, s.count.toLocaleString()),
                    [s.min, s.max, s.avg, s.stddev].map((v) => h("td", { class: "n" }, value(v))),
                ),
            ),
        ),
    );
}

/** The SDK's counters for this page's own metrics. */
export function renderSdkStats(container, stats, lastRetry) {
    const items = [
        ["written", stats.rowsWritten],
        ["sent", stats.rowsAcked],
        ["pending", stats.rowsPending + stats.rowsOpen],
        ["dropped", stats.rowsDropped],
        ["retries", stats.retries],
        ["batches", stats.batchesSent],
    ];
    container.replaceChildren(
        ...items.map(([name, n]) =>
            h(
                "div",
                { class: name === "dropped" && n > 0 ? "stat bad" : "stat" },
                h("span", { class: "label" }, name),
                h("span", { class: "value", "data-stat": name }, n.toLocaleString()),
            ),
        ),
        ...(lastRetry ? [h("p", { class: "retry" }, `last retry: ${lastRetry}`)] : []),
    );
}
