// The dashboard: the collector's collections (query API), their rows live
// (the SDK's WebSocket subscription), a chart of one numeric field, the
// latest rows, the statistics, the instruments' charts, and this page's own
// metrics sent through the SDK. The token comes from `?token=`;
// `?collection=`, `?field=` and `?instrument=` choose what is shown.
import "uplot/dist/uPlot.min.css";
import "./style.css";
import init, { MetricClient } from "edgemetrics";
import wasmUrl from "edgemetrics/edgemetrics.wasm";
import { Api, NotFound, Unauthorized, numericFields } from "./api.js";
import { Chart } from "./chart.js";
import { $, h, time } from "./dom.js";
import { Feed } from "./feed.js";
import { InstrumentsPanel } from "./instruments.js";
import { PageMetrics } from "./pagemetrics.js";
import { Series, WINDOW_SECONDS } from "./series.js";
import { Status } from "./status.js";
import { renderCollections, renderLatest, renderSdkStats, renderStats } from "./tables.js";

const LATEST_ROWS = 20;
const POLL_MS = 2000;
const OWN_COLLECTION = "pageMetrics";

const params = new URLSearchParams(location.search);
const token = params.get("token");
if (token) {
    start(token).catch((error) => {
        $("#status").dataset.state = "away";
        $("#status-text").textContent = `The dashboard could not start: ${error.message}`;
        console.error(error);
    });
} else {
    askForToken();
}

function askForToken() {
    $("#status").dataset.state = "no-token";
    $("#status-text").textContent = "No token: the collector's API token goes in the address as ?token=…";
    $("#dashboard").hidden = true;
    const form = $("#token-form");
    form.hidden = false;
    form.addEventListener("submit", (event) => {
        event.preventDefault();
        params.set("token", form.elements.token.value);
        location.search = params.toString();
    });
}

async function start(token) {
    const loading = performance.now();
    await init(wasmUrl);
    const initMs = performance.now() - loading;

    const view = {
        collections: [],
        selected: params.get("collection"),
        field: params.get("field"),
        chosen: params.has("collection"),
        latest: new Map(),
        missed: new Map(),
        lastRetry: null,
        apiError: null,
        stats: null,
        /** The collection and field whose stored history the chart has. */
        historyOf: null,
        /** When the feed last went live (null while it is not). */
        liveAtMs: null,
        dirty: true,
    };
    const status = new Status(() => feed.retryNow());
    const client = new MetricClient({
        apiAddr: location.origin,
        apiToken: token,
        clusterId: "dashboard",
        insecure: location.protocol === "http:",
        onEvent(event) {
            if (event.type === "retry") {
                view.lastRetry = `${time(Date.now())} ${event.message} (attempt ${event.attempt}, next in ${Math.round(event.delayMs)} ms)`;
            } else {
                status.notice(`dropped-${event.reason}`, `${time(Date.now())}: ${event.rows} rows of this page's metrics were dropped (${event.reason}): ${event.message}`, { bad: true });
            }
        },
    });
    const page = new PageMetrics(client, "dashboard");
    page.record("edgemetrics.init", initMs);
    page.observe();

    const api = new Api(location.origin, token);
    const series = new Series();
    const chart = new Chart($("#chart"));
    let firstLive = true;

    const feed = new Feed(client, {
        onRows(batch) {
            series.add(batch);
            if (!view.collections.some((c) => c.name === batch.collection)) pollSoon();
            const list = view.latest.get(batch.collection) ?? [];
            const fresh = batch.rows.slice(-LATEST_ROWS).reverse();
            list.unshift(...fresh.map((row) => ({ row, receivedAtMs: batch.receivedAtMs })));
            list.length = Math.min(list.length, LATEST_ROWS);
            view.latest.set(batch.collection, list);
            view.dirty = true;
        },
        onMissed({ collection, rows }) {
            const total = (view.missed.get(collection) ?? 0) + rows;
            view.missed.set(collection, total);
            $("#notices").dataset.missed = String([...view.missed.values()].reduce((a, b) => a + b, 0));
            status.notice(
                `missed-${collection}`,
                `${time(Date.now())}: ${total.toLocaleString()} rows of ${collection} were not shown live — the dashboard fell behind the collector. They are stored: the statistics include them.`,
            );
        },
        onState(state) {
            if (state.state === "live" && view.liveAtMs === null) {
                // Live (again): fill what came before from the store.
                view.liveAtMs = Date.now();
                loadHistory();
            } else if (state.state !== "live") {
                view.liveAtMs = null;
            }
            const troubleSince = status.set(state);
            if (state.state === "away" || state.state === "refused") series.gap();
            if (troubleSince !== null) {
                series.gap();
                const seconds = Math.round((Date.now() - troubleSince) / 1000);
                status.notice("reconnected", `${time(Date.now())}: reconnected after ${seconds} s away. The chart fills in the rows stored meanwhile from the collector.`);
            }
            if (state.state === "live" && firstLive) {
                firstLive = false;
                page.record("dashboard.live", performance.now());
            }
            view.dirty = true;
        },
    });
    feed.follow(view.chosen && view.selected ? [OWN_COLLECTION, view.selected] : [OWN_COLLECTION]);

    $("#collection").addEventListener("change", (event) => select(event.target.value, null, true));
    $("#field").addEventListener("change", (event) => select(view.selected, event.target.value, view.chosen));
    const instruments = new InstrumentsPanel(
        api,
        { select: $("#instrument"), chart: $("#instrument-chart"), empty: $("#no-instruments"), hint: $("#instrument-hint") },
        params.get("instrument"),
        (id) => {
            params.set("instrument", id);
            history.replaceState(null, "", `?${params}`);
        },
    );
    window.addEventListener("resize", () => {
        chart.resize();
        instruments.resize();
    });

    /** Shows `collection` (and `field`, or its first numeric one); remembered in the address. */
    function select(collection, field, chosen) {
        const changed = collection !== view.selected;
        view.selected = collection;
        view.field = field;
        view.chosen = chosen;
        fitSelection();
        if (chosen) {
            params.set("collection", view.selected);
            if (view.field) params.set("field", view.field);
            history.replaceState(null, "", `?${params}`);
        }
        if (changed) {
            view.stats = null;
            refreshStats().catch((error) => (view.apiError = error.message));
            loadLatest();
        }
        loadHistory();
        view.dirty = true;
    }

    /** The chart's window from the stored rows: what came before the page, or while it was away. */
    async function loadHistory() {
        const { selected: name, field } = view;
        if (!name || !field) return;
        view.historyOf = `${name}/${field}`;
        // Rows stored before the feed went live never come live; later ones do.
        const until = view.liveAtMs ?? Date.now();
        try {
            const query = { field, since_ms: until - WINDOW_SECONDS * 1000, until_ms: until, step_ms: 1000 };
            const answer = await api.series(name, query);
            if (name === view.selected && field === view.field) {
                series.history(name, field, answer, until);
                view.dirty = true;
            }
        } catch {
            // live rows still draw; the poll reports the collector's trouble
        }
    }

    /** Keeps the selection valid; picks defaults: another collection than our own, its first numeric field. */
    function fitSelection() {
        const names = view.collections.map((c) => c.name);
        const others = names.filter((name) => name !== OWN_COLLECTION);
        const keep = view.selected && (names.includes(view.selected) || view.chosen);
        if (!keep || (!view.chosen && view.selected === OWN_COLLECTION && others.length > 0)) {
            view.selected = others[0] ?? names[0] ?? null;
            view.field = null;
        }
        const collection = view.collections.find((c) => c.name === view.selected);
        const fields = [...new Set([...(collection ? numericFields(collection) : []), ...series.fields(view.selected)])];
        if (!fields.includes(view.field)) view.field = fields[0] ?? null;
        // A collection named in the address is offered before it is listed.
        const offered = view.selected && !names.includes(view.selected) ? [...names, view.selected] : names;
        fillSelect($("#collection"), offered, view.selected);
        fillSelect($("#field"), fields, view.field);
    }

    async function loadLatest() {
        const name = view.selected;
        if (!name || view.latest.get(name)?.length) return;
        try {
            const row = await api.latest(name);
            if (row && !view.latest.get(name)?.length) {
                const own = Object.fromEntries(Object.entries(row).filter(([key]) => !key.startsWith("_") && key !== "timestamp"));
                view.latest.set(name, [{ row: own, receivedAtMs: row._received_at_ms }]);
                view.dirty = true;
            }
        } catch {
            // the next rows will show; the poll reports the collector's trouble
        }
    }

    async function refreshStats() {
        const name = view.selected;
        if (!name) return;
        try {
            const stats = await api.stats(name);
            if (name === view.selected) view.stats = { name, stats, at: Date.now() };
        } catch (error) {
            if (!(error instanceof NotFound)) throw error;
            if (name === view.selected) view.stats = { name, stats: null, at: Date.now() };
        }
        view.dirty = true;
    }

    let pollTimer = null;
    let polling = false;
    let pollAgain = false;

    /** Polls now (rows of a collection not listed yet arrived), unless a poll is under way. */
    function pollSoon() {
        if (polling) pollAgain = true;
        else {
            clearTimeout(pollTimer);
            poll();
        }
    }

    async function poll() {
        polling = true;
        try {
            view.collections = await api.collections();
            view.apiError = null;
            // A collection named in the address is followed before its first rows exist.
            const named = view.chosen && view.selected ? [view.selected] : [];
            feed.follow([...view.collections.map((c) => c.name), OWN_COLLECTION, ...named]);
            fitSelection();
            loadLatest();
            if (view.historyOf !== `${view.selected}/${view.field}`) loadHistory();
            await Promise.all([refreshStats(), instruments.refresh()]);
        } catch (error) {
            view.apiError = error.message;
            if (error instanceof Unauthorized) status.notice("token", `The collector refused the token in the address: ${error.message}.`, { bad: true });
        }
        view.dirty = true;
        polling = false;
        pollTimer = setTimeout(poll, pollAgain ? 0 : POLL_MS);
        pollAgain = false;
    }
    poll();

    function render() {
        renderSdkStats($("#sdk-stats"), client.stats(), view.lastRetry);
        renderCollections($("#collections tbody"), view.collections, series, view.selected, (name) => select(name, null, true));
        $("#no-collections").hidden = view.collections.length > 0;
        if (!view.dirty) return;
        view.dirty = false;
        fitSelection(); // fields seen in live rows before the next poll
        const data = series.aligned(view.selected, view.field);
        const hasData = data[1].some((v) => v !== null);
        $("#chart-empty").hidden = hasData;
        $("#chart").hidden = !hasData;
        $("#chart-empty").textContent = view.selected ? `Waiting for live rows of ${view.selected}…` : "No collections yet.";
        if (view.field && hasData) chart.draw(view.field, data);
        const latest = view.latest.get(view.selected) ?? [];
        const fields = view.collections.find((c) => c.name === view.selected)?.fields.map((f) => f.name) ?? [];
        renderLatest($("#latest"), latest, fields);
        const received = series.total(view.selected);
        const missed = view.missed.get(view.selected) ?? 0;
        Object.assign($("#latest-panel").dataset, { received, missed });
        $("#latest-hint").textContent = view.selected
            ? `${view.selected}, newest first (${received.toLocaleString()} received live${missed ? `, ${missed.toLocaleString()} missed` : ""})`
            : "";
        const receiveTime = receiveTimeColumns(view.selected);
        if (view.stats?.name === view.selected) {
            if (view.stats.stats) renderStats($("#stats"), view.stats.stats, receiveTime);
            else $("#stats").replaceChildren();
        }
        $("#stats-hint").textContent = view.apiError ? `query API: ${view.apiError}` : statsHint(view.stats, receiveTime);
        $("#page-metrics").replaceChildren(...page.sent.map(({ metric, valueMs }) => h("li", { "data-metric": metric }, `${metric} ${valueMs.toFixed(1)} ms`)));
    }
    setInterval(render, 250);
    render();

    /** The collector's receive-time columns of `name` (shown as a time range, not as numbers). */
    function receiveTimeColumns(name) {
        const collection = view.collections.find((c) => c.name === name);
        return collection ? collection.fields.filter((f) => f.server_timestamp).map((f) => f.name) : [];
    }
}

function statsHint(current, received) {
    if (!current) return "";
    const { name, stats, at } = current;
    if (!stats) return `no rows of ${name} stored yet`;
    const span = stats.fields[received[0]];
    const range = span?.count ? `, received ${time(span.min)}–${time(span.max)}` : "";
    return `${stats.rows.toLocaleString()} stored rows of ${name}${range} (query API at ${time(at)})`;
}

function fillSelect(select, values, selected) {
    const current = [...select.options].map((o) => o.value).join("\n");
    if (current !== values.join("\n")) select.replaceChildren(...values.map((v) => h("option", { value: v }, v)));
    select.value = selected ?? "";
}
