//! Decimal text of `f64`: the JSON reader's numbers, and the values in
//! error messages. core's correctly rounded parser and shortest-digits
//! printer; behind this one module so that a build that must not link them
//! could swap them (the browser build did, until schemas and rows moved to
//! the package's JavaScript and left the engine's parser and encoder out of
//! the wasm core).

use core::fmt;

/// `text` (what the JSON reader took for a number: ASCII digits, `-`, `+`,
/// `.`, `e`, `E`) as an `f64`, or `None` if it is not a number.
pub(crate) fn parse(text: &str) -> Option<f64> {
    text.parse().ok()
}

/// Writes the `f64` as `Display` does.
pub(crate) struct Text(pub f64);

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
