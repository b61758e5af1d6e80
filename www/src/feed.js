// The live feed: one subscription (through the SDK) to the collections
// the dashboard knows, reopened with backoff when the collector goes away
// and whenever the list of collections changes. Its state is what the
// page's status line says: connecting, live, away (with the next attempt's
// time), or refused.

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
        this.collections = [];
        this.subscription = null;
        this.generation = 0;
        this.retryMs = FIRST_RETRY_MS;
        this.timer = null;
        this.state = null;
    }

    /** Subscribes to `names` (sorted, without duplicates); reopens only when they changed. */
    follow(names) {
        const wanted = [...new Set(names)].sort();
        if (wanted.join("\n") === this.collections.join("\n") && this.subscription) return;
        this.collections = wanted;
        this.open();
    }

    /** Tries again now (the "retry now" button). */
    retryNow() {
        if (this.state?.state === "away" || this.state?.state === "refused") this.open();
    }

    open() {
        clearTimeout(this.timer);
        this.subscription?.close();
        this.subscription = null;
        const generation = ++this.generation;
        const current = () => generation === this.generation;
        this.setState({ state: "connecting", message: `subscribing to ${plural(this.collections.length, "collection")}` });
        let subscription;
        try {
            subscription = this.client.subscribe({
                collections: this.collections,
                reconnect: false,
                onRows: (batch) => current() && this.handlers.onRows(batch),
                onMissed: (missed) => current() && this.handlers.onMissed(missed),
                onError: (error) => current() && this.error(error, generation),
            });
        } catch (error) {
            return this.failed(error, generation);
        }
        this.subscription = subscription;
        subscription.ready.then(
            () => {
                if (!current()) return;
                this.retryMs = FIRST_RETRY_MS;
                this.setState({ state: "live", message: `receiving rows of ${plural(this.collections.length, "collection")}` });
            },
            (error) => this.failed(error, generation),
        );
    }

    /**
     * An error of the subscription: the connection closed or was refused
     * (then it is over: with `reconnect: false` the SDK does not reopen it),
     * or a frame could not be read (it goes on). The SDK's SubscriptionError
     * says which only in its message.
     */
    error(error, generation) {
        if (/closed \(code|refused by the collector/.test(error.message)) return this.failed(error, generation);
        console.warn(`edgemetrics subscription: ${error.message}`);
    }

    failed(error, generation) {
        if (generation !== this.generation) return;
        this.generation++; // later reports of this subscription are stale
        this.subscription?.close();
        this.subscription = null;
        const refused = /refused by the collector/.test(error.message);
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
