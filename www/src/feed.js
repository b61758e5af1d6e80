// The live feed: subscriptions (through the SDK) to the collections the
// dashboard knows, reopened with backoff when the collector goes away. A
// collection that appears later gets a subscription of its own, so the
// ones already open are not interrupted (no rows lost while resubscribing);
// after an outage everything is reopened as one. Its state is what the
// page's status line says: connecting, live, away (with the next
// attempt's time), or refused.

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 15000;

export class Feed {
    /**
     * `onRows(batch)` and `onMissed({collection, rows})` as the SDK gives
     * them; `onState({state, message, retryAt})` on every change.
     */
    constructor(client, { onRows, onMissed, onState }) {
        this.client = client;
        this.handlers = { onRows, onMissed, onState };
        this.names = [];
        /** `{names, subscription, ready}` of the current generation */
        this.groups = [];
        this.generation = 0;
        this.retryMs = FIRST_RETRY_MS;
        this.timer = null;
        this.state = null;
    }

    /** Follows `names` too: new ones get a subscription of their own (or everything reopens when not live). */
    follow(names) {
        const added = [...new Set(names)].filter((name) => !this.names.includes(name)).sort();
        if (added.length === 0) return;
        this.names = [...this.names, ...added].sort();
        if (this.state?.state === "live") this.subscribe(added, this.generation);
        else if (this.state?.state !== "away" && this.state?.state !== "refused") this.open();
    }

    /** Tries again now (the "retry now" button). */
    retryNow() {
        if (this.state?.state === "away" || this.state?.state === "refused") this.open();
    }

    /** Closes every subscription and opens one for all the names. */
    open() {
        clearTimeout(this.timer);
        this.closeAll();
        const generation = ++this.generation;
        this.setState({ state: "connecting", message: `subscribing to ${plural(this.names.length, "collection")}` });
        this.subscribe(this.names, generation);
    }

    subscribe(names, generation) {
        const group = { names, subscription: null, ready: false };
        const current = () => generation === this.generation;
        try {
            group.subscription = this.client.subscribe({
                collections: names,
                reconnect: false,
                onRows: (batch) => current() && this.handlers.onRows(batch),
                onMissed: (missed) => current() && this.handlers.onMissed(missed),
                onError: (error) => current() && this.error(error, generation),
            });
        } catch (error) {
            return this.failed(error, generation);
        }
        this.groups.push(group);
        group.subscription.ready.then(
            () => {
                if (!current()) return;
                group.ready = true;
                this.retryMs = FIRST_RETRY_MS;
                if (this.groups.every((g) => g.ready)) {
                    this.setState({ state: "live", message: `receiving rows of ${plural(this.names.length, "collection")}` });
                }
            },
            (error) => this.failed(error, generation),
        );
    }

    closeAll() {
        for (const group of this.groups) group.subscription.close();
        this.groups = [];
    }

    /**
     * An error of the subscription: the connection dropped or was refused
     * (then it is over: with `reconnect: false` the SDK does not reopen it),
     * or a frame could not be read (it goes on).
     */
    error(error, generation) {
        if (error.kind === "disconnected" || error.kind === "refused") return this.failed(error, generation);
        console.warn(`edgemetrics subscription: ${error.message}`);
    }

    failed(error, generation) {
        if (generation !== this.generation) return;
        this.generation++; // later reports of these subscriptions are stale
        this.closeAll();
        const refused = error.kind === "refused";
        const delay = refused ? MAX_RETRY_MS : this.retryMs;
        this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
        const wait = Math.round(delay * (0.75 + Math.random() * 0.25));
        this.setState({
            state: refused ? "refused" : "away",
            message: refused ? error.message : "the collector is away",
            retryAt: Date.now() + wait,
        });
        this.timer = setTimeout(() => this.open(), wait);
    }

    setState(state) {
        this.state = state;
        this.handlers.onState(state);
    }
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
