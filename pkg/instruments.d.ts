// Type declarations of `edgemetrics/instruments` (written by hand): the
// default entry's API, and a client with instruments.
import { MetricClient as BaseClient, type ClientOptions } from "./index.js";

export { default, initSync, Metric, Subscription } from "./index.js";
export type * from "./index.js";

/** Options of the instruments' client: the default client's, and how instruments aggregate. */
export interface InstrumentClientOptions extends ClientOptions {
    /** How often instruments become rows. Default: `flushIntervalMs`. */
    instrumentIntervalMs?: number;
    /** Rows carry each interval's values (`"delta"`, the default) or everything since a series began. */
    temporality?: "delta" | "cumulative";
    /** Series per instrument before values go to its overflow series (labelled `otel.metric.overflow="true"`). Default 2000. */
    cardinalityLimit?: number;
    /** Intervals without an update after which a series is dropped (unless bound). Default 10. */
    staleAfter?: number;
}

/** Options of an instrument. */
export interface InstrumentOptions {
    /** The unit (UCUM: `"ms"`, `"By"`, `"1"`). */
    unit?: string;
    /** What it measures. */
    description?: string;
}

/** Options of a histogram. */
export interface HistogramOptions extends InstrumentOptions {
    /** Bucket bounds, increasing (OpenTelemetry's defaults otherwise). */
    bounds?: number[];
}

/** Label names and values: strings (numbers and booleans are written as text). */
export type Labels = { [name: string]: string | number | boolean };

/** An instrument, a label or a value was refused. */
export interface InstrumentError extends Error {
    name: "InstrumentError";
    /** `"name"`, `"unit"`, `"description"`, `"bounds"`, `"label"`, `"labels"` or `"value"`. */
    what: string;
    /** The name or label key at fault. */
    subject?: string;
    /** The value at fault. */
    value?: number;
}

/** A series bound to its labels: records without a lookup. */
export interface Bound {
    add(value: number | bigint): void;
    set(value: number | bigint): void;
    record(value: number | bigint): void;
    /** Lets go of the series (it may then be dropped once idle). */
    unbind(): void;
}

/** A counter (adds amounts of 0 and more) or an up-down counter (of either sign). */
export class Counter {
    private constructor();
    readonly name: string;
    add(value: number | bigint, labels?: Labels): void;
    bind(labels?: Labels): Bound;
}

/** A gauge: the last value set. */
export class Gauge {
    private constructor();
    readonly name: string;
    set(value: number | bigint, labels?: Labels): void;
    bind(labels?: Labels): Bound;
}

/** A histogram, exponential histogram or summary. */
export class Histogram {
    protected constructor();
    readonly name: string;
    record(value: number | bigint, labels?: Labels): void;
    bind(labels?: Labels): Bound;
}

/** A histogram of durations, in seconds. */
export class Timer extends Histogram {
    private constructor();
    /** Starts timing; `stop()` records and returns the seconds. */
    start(labels?: Labels): { stop(): number };
    /** Runs `f` (sync or async) and records how long it took. */
    time<T>(labels: Labels | undefined, f: () => T): T;
}

/** The default client, with instruments. Their rows go to the collections `counters`, `gauges`, `histograms`, `exponential_histograms` and `summaries`. */
export class MetricClient extends BaseClient {
    constructor(options: InstrumentClientOptions);
    counter(name: string, options?: InstrumentOptions): Counter;
    upDownCounter(name: string, options?: InstrumentOptions): Counter;
    gauge(name: string, options?: InstrumentOptions): Gauge;
    histogram(name: string, options?: HistogramOptions): Histogram;
    exponentialHistogram(name: string, options?: InstrumentOptions): Histogram;
    summary(name: string, options?: InstrumentOptions): Histogram;
    timer(name: string, options?: HistogramOptions): Timer;
    /** Instruments made, their series (overflow series not counted), and updates that went to an overflow series. */
    instrumentStats(): { instruments: number; series: number; overflowed: number };
}
