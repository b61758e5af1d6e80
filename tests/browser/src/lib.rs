//! The rows the native writer writes for the npm package's browser tests
//! (`js/`, which make the same rows in JavaScript and compare them).

use serde::Serialize;

/// The log level of a sample row (an Avro enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// `"debug"`
    Debug,
    /// `"info"`
    Info,
    /// `"warn"`
    Warn,
}

impl Level {
    /// The symbol.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
        }
    }
}

/// A row of every kind the suites check: strings (not only ASCII), longs,
/// a double, a boolean, an array, a nullable union and an enum.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// A string.
    pub host: String,
    /// The row's number, unique within a run.
    pub seq: i64,
    /// A long.
    pub bytes: i64,
    /// A double.
    pub ratio: f64,
    /// A boolean.
    pub ok: bool,
    /// An array of strings.
    pub tags: Vec<String>,
    /// A `["null", "string"]` union.
    pub note: Option<String>,
    /// An enum.
    pub level: Level,
}

/// The schema of [`Sample`] rows stored in `collection`.
pub fn sample_schema(collection: &str) -> String {
    format!(
        r#"{{"type":"record","name":"{collection}","fields":[
        {{"name":"host","type":"string"}},{{"name":"seq","type":"long"}},{{"name":"bytes","type":"long"}},
        {{"name":"ratio","type":"double"}},{{"name":"ok","type":"boolean"}},
        {{"name":"tags","type":{{"type":"array","items":"string"}}}},
        {{"name":"note","type":["null","string"],"default":null}},
        {{"name":"level","type":{{"type":"enum","name":"Level","symbols":["debug","info","warn"]}}}}]}}"#
    )
}

/// Row `i` of a run: every value depends on `i` only.
pub fn sample(i: i64) -> Sample {
    Sample {
        host: format!("host-{}.é✓", i % 7),
        seq: i,
        bytes: 1_000_000_007 * i - 3,
        ratio: i as f64 / 8.0 - 0.5,
        ok: i % 3 == 0,
        tags: (0..i % 3).map(|t| format!("t{t}")).collect(),
        note: (i % 2 == 1).then(|| format!("odd {i}")),
        level: [Level::Debug, Level::Info, Level::Warn][(i % 3) as usize],
    }
}
