//! ClickHouse's HTTP interface: a query, or an insert with a RowBinary body,
//! and what went wrong in terms the collector answers with.

use std::time::Duration;

use crate::store::StoreError;

/// How to reach ClickHouse.
#[derive(Clone, Debug)]
pub struct Http {
    client: reqwest::Client,
    url: String,
    user: String,
    password: Option<String>,
    /// The URL without user or password, for messages.
    shown: String,
}

/// A ClickHouse error code (`Code: N` of its exceptions).
pub const COLUMN_EXISTS: u32 = 44;

/// A failed call: ClickHouse could not be reached or did not answer in
/// time, or it answered with an exception.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No answer: connection refused, reset or timed out.
    #[error("ClickHouse at {url} did not answer: {reason}")]
    Unreachable {
        /// `--clickhouse-url`.
        url: String,
        /// What the HTTP client said.
        reason: String,
    },
    /// An exception.
    #[error("ClickHouse refused the query (HTTP {status}): {message}")]
    Exception {
        /// The HTTP status.
        status: u16,
        /// Its `Code: N`, when the text has one.
        code: Option<u32>,
        /// The exception's text (shortened).
        message: String,
    },
}

impl CallError {
    /// The exception's code, if ClickHouse answered one.
    pub fn code(&self) -> Option<u32> {
        match self {
            Self::Exception { code, .. } => *code,
            Self::Unreachable { .. } => None,
        }
    }
}

impl From<CallError> for StoreError {
    /// Every failed call is worth retrying from the client's side: nothing
    /// was acknowledged, and the chunk is checked before it is sent here.
    fn from(e: CallError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// The longest exception text kept in a message.
const MAX_MESSAGE: usize = 500;

impl Http {
    /// A client of the HTTP interface at `url` (e.g. `http://127.0.0.1:8123`).
    pub fn new(url: &str, user: &str, password: Option<&str>, timeout: Duration) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("--clickhouse-url is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("--clickhouse-url {}: the scheme must be http or https", redacted(url)));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            client,
            shown: redacted(url),
            url: url.trim_end_matches('/').to_owned() + "/",
            user: user.to_owned(),
            password: password.map(str::to_owned),
        })
    }

    /// Runs `sql` (which names its output format) and returns the answer's
    /// bytes. `settings` are ClickHouse settings for this query.
    pub async fn query(&self, sql: &str, settings: &[(&str, String)]) -> Result<Vec<u8>, CallError> {
        self.call(settings, sql.as_bytes().to_vec()).await
    }

    /// Runs `insert` (an `INSERT … FORMAT RowBinary`) with `rows` as its data.
    pub async fn insert(&self, insert: &str, rows: Vec<u8>) -> Result<(), CallError> {
        // The statement starts the body, not the URL: 18.16 refuses a URL
        // past 16 KiB, which a wide table's column list passes.
        let mut body = Vec::with_capacity(insert.len() + 1 + rows.len());
        body.extend_from_slice(insert.as_bytes());
        body.push(b'\n');
        body.extend_from_slice(&rows);
        self.call(&[], body).await.map(drop)
    }

    async fn call(&self, settings: &[(&str, String)], body: Vec<u8>) -> Result<Vec<u8>, CallError> {
        let response = self
            .client
            .post(&self.url)
            .basic_auth(&self.user, self.password.as_deref())
            .query(settings)
            .body(body)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let text = String::from_utf8_lossy(&bytes);
        let code = text
            .strip_prefix("Code: ")
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse().ok());
        let mut message: String = text.trim().chars().take(MAX_MESSAGE).collect();
        if text.len() > message.len() {
            message.push('…');
        }
        Err(CallError::Exception { status: status.as_u16(), code, message })
    }

    fn unreachable(&self, e: reqwest::Error) -> CallError {
        // The error's source chain says why (refused, reset, timed out);
        // not its URL, which may carry credentials.
        let e = e.without_url();
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason.push_str(": ");
            reason.push_str(&s.to_string());
            source = s.source();
        }
        CallError::Unreachable { url: self.shown.clone(), reason }
    }
}

/// `url` for messages: without user, password or query (which may carry a
/// password).
pub fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.as_str().trim_end_matches('/').to_owned()
        }
        Err(_) => "(--clickhouse-url, not a URL)".to_owned(),
    }
}

/// `s` as a ClickHouse string literal.
pub fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `name` as a ClickHouse identifier. Names are checked as Avro names
/// before (letters, digits and `_`); the quoting is a second defence.
pub fn ident(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials_in_messages() {
        assert_eq!(redacted("http://u:secret@host:8123/?password=x"), "http://host:8123");
        assert!(!redacted("not a url secret").contains("secret"));
    }

    #[test]
    fn literals_and_identifiers_are_escaped() {
        assert_eq!(literal(r"a'b\c"), r"'a\'b\\c'");
        assert_eq!(ident("x`y"), r"`x\`y`");
    }
}
