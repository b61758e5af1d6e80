// What the page tells the person: the connection's state in the header
// (with a countdown to the next attempt while the collector is away), and
// notices that stay (rows missed, rows dropped).
import { $, h, time } from "./dom.js";

const TEXT = {
    connecting: (s) => (s.since ? `Collector away since ${time(s.since)} — connecting…` : "Connecting to the collector…"),
    live: (s) => `Live — ${s.message}`,
    away: (s) => `Collector away since ${time(s.since)} — reconnecting ${countdown(s.retryAt)}`,
    refused: (s) => `Refused: ${s.message} — check the token in the address; trying again ${countdown(s.retryAt)}`,
    "no-token": () => "No token: add ?token=… to the address",
};

function countdown(at) {
    const seconds = Math.max(0, Math.ceil((at - Date.now()) / 1000));
    return seconds === 0 ? "now" : `in ${seconds} s`;
}

export class Status {
    constructor(onRetry) {
        this.element = $("#status");
        this.text = $("#status-text");
        this.retry = $("#retry");
        this.retry.addEventListener("click", onRetry);
        this.notices = new Map();
        this.current = { state: "connecting" };
        setInterval(() => this.render(), 1000);
    }

    /**
     * A new state of the feed (`{state, message, retryAt}`). Returns when
     * the trouble began that this state ends (a `live` after `away`), or null.
     */
    set(state) {
        const troubled = state.state === "away" || state.state === "refused";
        let since = this.current.since ?? null;
        if (troubled && since === null) since = Date.now();
        const ended = state.state === "live" ? since : null;
        if (state.state === "live") since = null;
        this.current = { ...state, since };
        this.render();
        return ended;
    }

    render() {
        const state = this.current;
        this.element.dataset.state = state.state;
        this.text.textContent = TEXT[state.state](state);
        this.retry.hidden = !(state.state === "away" || state.state === "refused");
    }

    /** Shows (or updates) the notice `key`. */
    notice(key, text, { bad = false } = {}) {
        let item = this.notices.get(key);
        if (!item) {
            item = h("li", { "data-notice": key });
            this.notices.set(key, item);
            $("#notices").prepend(item);
        }
        item.className = bad ? "bad" : "";
        item.textContent = text;
    }
}
