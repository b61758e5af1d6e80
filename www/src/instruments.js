// The instruments panel: what the SDK's counters, gauges, histograms and
// summaries sent, charted from the collector's query API
// (`/api/instruments`): a counter's rate per second, a gauge's value, a
// histogram's or summary's p50, p90 and p99, over the last 15 minutes.
// `?instrument=collection/name` chooses one.
import uPlot from "uplot";
import { formatNumber } from "./chart.js";
import { h } from "./dom.js";

const WINDOW_MS = 15 * 60 * 1000;
const STEP_MS = 10_000;
const QUANTILES = [0.5, 0.9, 0.99];
const COLORS = ["#2563eb", "#d97706", "#dc2626"];

export class InstrumentsPanel {
    /**
     * `elements`: `{select, chart, empty, hint}`; `onSelect(id)` is told of
     * the user's choice, to remember it.
     */
    constructor(api, elements, selected, onSelect) {
        this.api = api;
        this.elements = elements;
        this.selected = selected;
        this.instruments = [];
        this.plot = null;
        this.shape = null;
        elements.select.addEventListener("change", (event) => {
            this.selected = event.target.value;
            onSelect(this.selected);
            this.refresh();
        });
    }

    /** Lists the instruments and redraws the chosen one; errors are shown in the hint. */
    async refresh() {
        const { select, chart, empty, hint } = this.elements;
        try {
            this.instruments = await this.api.instruments();
            const ids = this.instruments.map(id);
            if (!ids.includes(this.selected)) this.selected = ids[0] ?? null;
            const options = this.instruments.map((i) => h("option", { value: id(i) }, `${i.name} (${i.kind.replaceAll("_", " ")})`));
            if ([...select.options].map((o) => o.value).join("\n") !== ids.join("\n")) select.replaceChildren(...options);
            select.value = this.selected ?? "";
            const instrument = this.instruments.find((i) => id(i) === this.selected);
            empty.hidden = Boolean(instrument);
            chart.hidden = !instrument;
            if (!instrument) return;
            const until = Date.now();
            const answer = await this.api.instrumentPoints(instrument.collection, instrument.name, {
                since_ms: until - WINDOW_MS,
                until_ms: until,
                step_ms: STEP_MS,
                quantiles: QUANTILES.join(","),
            });
            if (this.selected === id(instrument)) this.draw(answer);
            hint.textContent = `${describe(answer)}, last 15 minutes in steps of ${STEP_MS / 1000} s (query API)`;
        } catch (error) {
            hint.textContent = `query API: ${error.message}`;
        }
    }

    /** Draws an answer of the points API; the plot is rebuilt when the lines change. */
    draw(answer) {
        const { labels, columns } = lines(answer);
        const seconds = answer.t.map((t) => t / 1000);
        const data = [seconds, ...columns];
        const shape = `${answer.collection}/${answer.name}:${labels.join(",")}`;
        if (!this.plot || this.shape !== shape) {
            this.plot?.destroy();
            this.shape = shape;
            this.plot = new uPlot(options(labels, answer.unit, this.elements.chart), data, this.elements.chart);
        } else {
            this.plot.setData(data);
        }
        const first = columns[0] ?? [];
        const points = first.filter((v) => v !== null);
        Object.assign(this.elements.chart.dataset, {
            kind: answer.kind,
            lines: labels.join(","),
            points: String(points.length),
            last: columns.map((column) => column.findLast((v) => v !== null) ?? "").join(","),
        });
    }

    resize() {
        this.plot?.setSize(size(this.elements.chart));
    }
}

const id = (instrument) => `${instrument.collection}/${instrument.name}`;

/** The lines a kind is charted with. */
function lines(answer) {
    switch (answer.kind) {
        case "counter":
        case "up_down_counter":
            return { labels: ["rate/s"], columns: [answer.rate] };
        case "gauge":
            return { labels: ["value"], columns: [answer.value] };
        default:
            return { labels: answer.quantiles.map((q) => `p${Math.round(q * 1000) / 10}`), columns: answer.values };
    }
}

function describe(answer) {
    const unit = answer.unit ? ` in ${answer.unit}` : "";
    const series = `${answer.series} series`;
    switch (answer.kind) {
        case "counter":
        case "up_down_counter":
            return `${answer.name}: rate per second over ${series}`;
        case "gauge":
            return `${answer.name}${unit}: each series' last value, summed over ${series}`;
        default:
            return `${answer.name}${unit}: quantiles over ${series}`;
    }
}

const size = (element) => ({ width: Math.max(320, element.clientWidth), height: 240 });

function options(labels, unit, element) {
    const number = (value) => (value == null ? "–" : `${formatNumber(value)}${unit ? ` ${unit}` : ""}`);
    return {
        ...size(element),
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
        scales: { x: { time: true } },
        axes: [{}, { values: (_, ticks) => ticks.map(formatNumber), size: 70 }],
        // Points as well as lines: a step alone between gaps is still seen.
        series: [{}, ...labels.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 2, value: (_, v) => number(v), spanGaps: false, points: { show: true, size: 6, fill: COLORS[i % COLORS.length] } }))],
    };
}
