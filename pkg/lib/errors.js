// The package's errors: real `Error`s whose `name` tells the kinds apart,
// whose message says what is wrong and names the option, field or status,
// and whose properties carry the details (`option`, `field`, `index`, ...).

/** An `Error` named `name` with `details` as properties. */
export function error(name, message, details) {
    const e = new Error(message);
    e.name = name;
    return Object.assign(e, details);
}

/** `option "<option>": <message>` */
export function optionError(option, message) {
    return error("OptionError", `option "${option}": ${message}`, { option });
}

/** The JS kind of a value, for messages: `a string`, `null`, `an array`, ... */
export function kind(value) {
    if (value === null) return "null";
    const type = typeof value;
    if (type === "object") return Array.isArray(value) ? "an array" : "an object";
    return type === "undefined" ? type : `a ${type}`;
}

/** A number as Rust's `Display` writes it: the same digits, never an exponent. */
export function numberText(x) {
    if (Number.isNaN(x)) return "NaN";
    if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
    const js = String(x);
    const sign = x < 0 || Object.is(x, -0) ? "-" : "";
    const rest = js.replace(/^-/, "");
    const [mantissa, exp] = rest.split(/e/i);
    const [int, frac = ""] = mantissa.split(".");
    let digits = (int + frac).replace(/^0+/, "");
    let point = int.length + Number(exp ?? 0) - ((int + frac).length - (int + frac).replace(/^0+/, "").length);
    digits = digits.replace(/0+$/, "");
    if (digits === "") return `${sign}0`;
    if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
    if (point >= digits.length) return sign + digits + "0".repeat(point - digits.length);
    return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}
