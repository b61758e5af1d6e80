// The live chart (uPlot): average, minimum and maximum of the chosen field
// per second of receive time; breaks where the feed was down.
import uPlot from "uplot";

export class Chart {
    constructor(element) {
        this.element = element;
        this.plot = null;
        this.points = 0;
    }

    /** Draws `data` ([seconds, avg, min, max]) for `field`; rebuilt when the field changes. */
    draw(field, data) {
        if (!this.plot || this.field !== field) {
            this.plot?.destroy();
            this.field = field;
            this.plot = new uPlot(this.options(field), data, this.element);
        } else {
            this.plot.setData(data);
        }
        this.points = data[0].length;
        this.element.dataset.points = String(this.points);
        this.element.dataset.last = data[1].length ? String(data[1][data[1].length - 1]) : "";
    }

    /** Follows the element's width. */
    resize() {
        this.plot?.setSize(this.size());
    }

    size() {
        return { width: Math.max(320, this.element.clientWidth), height: 280 };
    }

    options(field) {
        const number = (value) => (value == null ? "–" : formatNumber(value));
        return {
            ...this.size(),
            cursor: { drag: { x: false, y: false } },
            legend: { live: true },
            // At least the last minute, so that a few points have an axis to sit on.
            scales: { x: { time: true, range: (_, min, max) => [Math.min(min, max - 60), max + 1] } },
            axes: [
                // Whole seconds at least: the data is per second.
                { incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300], space: 70, values: (_, ticks) => ticks.map(clock) },
                { values: (_, ticks) => ticks.map(formatNumber), size: 70 },
            ],
            series: [
                {},
                { label: `${field} avg`, stroke: "#2563eb", width: 2, value: (_, v) => number(v), spanGaps: false },
                { label: "min", stroke: "#93c5fd", width: 1, value: (_, v) => number(v), spanGaps: false },
                { label: "max", stroke: "#1e3a8a", width: 1, dash: [4, 4], value: (_, v) => number(v), spanGaps: false },
            ],
        };
    }
}

const clock = (seconds) => new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });

export function formatNumber(value) {
    if (typeof value !== "number") return String(value);
    const abs = Math.abs(value);
    if (abs >= 1e9) return `${(value / 1e9).toFixed(abs >= 1e10 ? 1 : 2)}G`;
    if (abs >= 1e6) return `${(value / 1e6).toFixed(abs >= 1e7 ? 1 : 2)}M`;
    if (abs >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
    return Number.isInteger(value) ? String(value) : value.toFixed(2);
}
