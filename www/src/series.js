// Per-second aggregates (count, sum, min, max) of every numeric field of
// every collection, from the rows the feed delivers, kept for a window of
// seconds; and the gaps when the feed was down.

export const WINDOW_SECONDS = 300;

export class Series {
    constructor() {
        /** collection → field → Map(second → {n, sum, min, max}) */
        this.data = new Map();
        /** collection → rows received, and their receive times for the rate */
        this.received = new Map();
        /** seconds at which the feed was down (drawn as breaks in the line) */
        this.gaps = new Set();
    }

    /** Adds a batch of rows (`{collection, rows, receivedAtMs}`). */
    add({ collection, rows, receivedAtMs }) {
        const second = Math.floor(receivedAtMs / 1000);
        let fields = this.data.get(collection);
        if (!fields) this.data.set(collection, (fields = new Map()));
        for (const row of rows) {
            for (const key in row) {
                let value = row[key];
                if (typeof value === "bigint") value = Number(value);
                if (typeof value !== "number" || !Number.isFinite(value)) continue;
                let buckets = fields.get(key);
                if (!buckets) fields.set(key, (buckets = new Map()));
                const bucket = buckets.get(second);
                if (bucket) {
                    // Live rows joined it: the next history leaves it alone.
                    bucket.stored = false;
                    bucket.n++;
                    bucket.sum += value;
                    if (value < bucket.min) bucket.min = value;
                    if (value > bucket.max) bucket.max = value;
                } else {
                    buckets.set(second, { n: 1, sum: value, min: value, max: value });
                }
            }
        }
        const count = this.received.get(collection) ?? { total: 0, recent: [] };
        count.total += rows.length;
        count.recent.push([receivedAtMs, rows.length]);
        this.received.set(collection, count);
        this.prune(second);
    }

    /**
     * Fills the seconds before `beforeMs` (when the feed last went live:
     * rows stored earlier never come live) from the collector's per-second
     * aggregates of `field` (`/series` with `step_ms=1000`). Seconds with
     * live rows keep their own; seconds filled before are filled again.
     */
    history(collection, field, { t, count, min, max, avg }, beforeMs) {
        let fields = this.data.get(collection);
        if (!fields) this.data.set(collection, (fields = new Map()));
        let buckets = fields.get(field);
        if (!buckets) fields.set(field, (buckets = new Map()));
        const before = Math.floor(beforeMs / 1000);
        t.forEach((ms, i) => {
            const second = Math.floor(ms / 1000);
            const current = buckets.get(second);
            if (second >= before || (current && !current.stored)) return;
            const n = count[i];
            if (n > 0 && avg[i] !== null) {
                buckets.set(second, { n, sum: avg[i] * n, min: Number(min[i]), max: Number(max[i]), stored: true });
            } else if (current) {
                buckets.delete(second);
            }
        });
        this.prune(Math.floor(Date.now() / 1000));
    }

    /** Marks the feed as down now: the line breaks here. */
    gap(nowMs = Date.now()) {
        this.gaps.add(Math.floor(nowMs / 1000));
    }

    prune(nowSecond) {
        const oldest = nowSecond - WINDOW_SECONDS;
        if (this.pruned === nowSecond) return;
        this.pruned = nowSecond;
        for (const fields of this.data.values()) {
            for (const buckets of fields.values()) {
                for (const second of buckets.keys()) if (second < oldest) buckets.delete(second);
            }
        }
        for (const second of this.gaps) if (second < oldest) this.gaps.delete(second);
        for (const count of this.received.values()) count.recent = count.recent.filter(([ms]) => ms >= oldest * 1000);
    }

    /** Rows per second received over the last `seconds`. */
    rate(collection, seconds = 5, nowMs = Date.now()) {
        const recent = this.received.get(collection)?.recent ?? [];
        const rows = recent.filter(([ms]) => ms >= nowMs - seconds * 1000).reduce((sum, [, n]) => sum + n, 0);
        return rows / seconds;
    }

    /** Rows received live for `collection` since the page opened. */
    total(collection) {
        return this.received.get(collection)?.total ?? 0;
    }

    /** The numeric fields seen in rows of `collection`. */
    fields(collection) {
        return [...(this.data.get(collection)?.keys() ?? [])];
    }

    /** uPlot's data: [seconds, avg, min, max], nulls at the gaps. */
    aligned(collection, field) {
        const buckets = this.data.get(collection)?.get(field) ?? new Map();
        const seconds = [...new Set([...buckets.keys(), ...this.gaps])].sort((a, b) => a - b);
        const xs = [], avg = [], min = [], max = [];
        for (const second of seconds) {
            const bucket = buckets.get(second);
            xs.push(second);
            avg.push(bucket ? bucket.sum / bucket.n : null);
            min.push(bucket ? bucket.min : null);
            max.push(bucket ? bucket.max : null);
        }
        return [xs, avg, min, max];
    }
}
