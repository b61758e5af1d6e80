// `Subscription`: what a page that writes metrics loads of it, the options
// check and the handle. The WebSocket, the frames and the Avro decoder are
// in ./live.js, loaded the first time a page subscribes: most pages only
// write, and only dashboards read.
import { error, optionError } from "./errors.js";
import { checkClusterId, missing, reader } from "./options.js";
import { fields, string } from "./proto.js";

const SUBSCRIBE_OPTIONS = ["collections", "clusters", "onRows", "onSubscribed", "onError", "onMissed", "reconnect", "WebSocket"];

/**
 * A `SubscriptionError`: `kind` says what went wrong (refused, disconnected,
 * closed, unreadable, missed), `reconnecting` whether it goes on.
 */
export const subscriptionError = (kind, message, reconnecting) =>
    error("SubscriptionError", message, { kind, reconnecting });

/** A live subscription. */
export class Subscription {
    /** @internal Made by `client.subscribe()`, which checks `options` here. */
    constructor(client, options) {
        const r = reader(options, "subscribe options", SUBSCRIBE_OPTIONS);
        const collections = r.names("collections", "collection names") ?? missing("collections");
        const clusters = r.names("clusters", "cluster ids") ?? [];
        for (const id of clusters) checkClusterId(id, "clusters");
        const onRows = r.function("onRows") ?? missing("onRows");
        this._options = {
            collections, clusters, onRows,
            onSubscribed: r.function("onSubscribed"),
            onError: r.function("onError"),
            onMissed: r.function("onMissed"),
            reconnect: r.boolean("reconnect") ?? true,
            WebSocket: r.function("WebSocket") ?? globalThis.WebSocket,
        };
        if (typeof this._options.WebSocket !== "function") {
            throw optionError("WebSocket", 'this runtime has no WebSocket; pass one, e.g. { WebSocket } from the "ws" package');
        }
        this._client = { url: client.url, token: client.token, clusterId: client.clusterId };
        this._proto = { fields, string };
        this._error = subscriptionError;
        /** Resolves once the collector confirmed the subscription; rejects if it refused it. */
        this.ready = new Promise((resolve, reject) => (this._settle = { resolve, reject }));
        // Handled here, so that a refusal nobody awaits is not an unhandled
        // rejection (which ends a Node process); `onError` reports it.
        this.ready.catch(() => {});
        import("./live.js").then(
            (live) => this._closed || live.connect(this),
            (e) => {
                const failure = subscriptionError("disconnected", `the subscription code could not be loaded: ${e?.message ?? e}`, false);
                this._options.onError?.(failure);
                this.close(failure);
            },
        );
    }

    /** Ends the subscription and closes its WebSocket. */
    close(failure = subscriptionError("closed", "the subscription was closed", false)) {
        this._closed = true;
        clearTimeout(this._timer);
        this._socket?.close();
        this._settle?.reject(failure);
        this._settle = null;
    }

    /** Kept for existing code: there is nothing to release beyond `close()`. */
    free() {}
}
