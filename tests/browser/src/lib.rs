//! Helpers of the browser suites (see `tests/`): where the collector and the
//! harness's control server are, reading rows back through the query API.
