// `Metric`: rows of one schema, encoded here and handed to the wasm core
// in bulk. A row is encoded when it is written (so a bad one throws at
// once, naming the field) into the metric's pending bytes; the core takes
// them at the end of the task, before anything reads its state, or when
// they pass PENDING_BYTES. One crossing into wasm per batch of rows rather
// than per row: the crossing and the copy cost more than encoding a row.
import { error, optionError } from "./errors.js";
import { Bad, Out, pathText, value } from "./encode.js";
import { compile } from "./compile.js";

/** Pending bytes past which a write hands them to the core at once. */
const PENDING_BYTES = 64 << 10;

/** A `RowError` for `bad` (of row `index` of a batch, when given). */
function rowError(bad, index) {
    const field = pathText(bad.path);
    let message = field ? `field "${field}": ${bad.message}` : `row: ${bad.message}`;
    if (index !== undefined) message = `row ${index}: ${message}`;
    return error("RowError", message, index === undefined ? { field } : { field, index });
}

export class Metric {
    // Private (`#`: a minifier shortens these names).
    #index;
    #root;
    #max;
    #out;
    #write;

    /** @internal Made by `client.metric()`, which names the `collection` after the record. */
    constructor(client, index, root, maxChunkSize, collection) {
        this._client = client;
        this.#index = index;
        this.#root = root;
        this.#max = maxChunkSize;
        this.#out = new Out();
        this._ends = [];
        this.#write = compile(root);
        /** The collection the rows go to: the record's name. */
        this.collection = collection;
    }

    /** Encodes one row onto the pending bytes; throws (leaving them as they were) when it does not fit. */
    #encode(row, index) {
        const o = this.#out;
        const start = o.n;
        try {
            if (!this.#write(row, o)) {
                o.n = start;
                value(this.#root, o, row);
            }
        } catch (e) {
            o.n = start;
            throw e instanceof Bad ? rowError(e, index) : e;
        }
        const size = o.n - start;
        if (size > this.#max) {
            o.n = start;
            const bad = new Bad(`the encoded row is ${size} bytes, more than the max chunk size of ${this.#max} bytes`);
            throw rowError(bad, index);
        }
        this._ends.push(o.n);
    }

    /** Buffers one row; a row that does not fit throws a `RowError` naming the field, and nothing of it is buffered. */
    write(row) {
        this._client._check(this);
        this.#encode(row);
        this.#queued();
    }

    /** Buffers all rows or none (the `RowError` gives the `index` and `field` at fault); returns how many. */
    writeMany(rows) {
        this._client._check(this);
        if (!Array.isArray(rows)) {
            throw optionError("rows", "writeMany takes an array of rows");
        }
        const start = this.#out.n;
        const ends = this._ends.length;
        try {
            for (let i = 0; i < rows.length; i++) this.#encode(rows[i], i);
        } catch (e) {
            this.#out.n = start;
            this._ends.length = ends;
            throw e;
        }
        this.#queued();
        return rows.length;
    }

    #queued() {
        this._client._queue(this);
        if (this.#out.n > PENDING_BYTES) this._client._drain();
    }

    /** Hands the pending rows to the core; returns whether the sender should look again. */
    _drain(core, now) {
        const o = this.#out;
        if (this._ends.length === 0) return false;
        const result = core.append(this.#index, o.b.subarray(0, o.n), this._ends, now);
        o.n = 0;
        this._ends.length = 0;
        // The rows were checked against the max chunk size before.
        if (result === 1 || result < 0) throw new Error(`edgemetrics: the core refused rows it was given (${result})`);
        return result === 2;
    }

    /** Releases this handle; rows already written are still sent. */
    free() {
        this._client._drain();
        this._freed = true;
    }
}
