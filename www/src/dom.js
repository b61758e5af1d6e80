// A few DOM helpers: elements built from data, never from HTML strings.

/** `h("td", {class: "n"}, "text", child)` */
export function h(tag, attributes = {}, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
        if (value === undefined || value === null || value === false) continue;
        if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
        else element.setAttribute(name, value === true ? "" : String(value));
    }
    element.append(...children.flat().filter((child) => child !== null && child !== undefined));
    return element;
}

export const $ = (selector) => document.querySelector(selector);

/** A cell value as short text: numbers rounded, bytes as hex, objects as JSON. */
export function display(value) {
    if (value === null || value === undefined) return "null";
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
    if (typeof value === "bigint") return value.toString();
    if (value instanceof Uint8Array) return [...value].map((b) => b.toString(16).padStart(2, "0")).join("");
    if (typeof value === "object") return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v));
    const text = String(value);
    return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

export const time = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
