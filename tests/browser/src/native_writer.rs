//! Writes rows to the collector with the native client.
fn main() {}
