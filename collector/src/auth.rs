//! Authentication and what each token may do.
//!
//! A token shipped in a web page or a Worker is public: anyone can read it
//! and send what they like with it. So tokens have scopes. A write token
//! (`--write-token`) may only send metrics; a read token (`--read-token`)
//! may only query and subscribe; `--token` may do both (the development
//! default). A token from `--tokens-file` may also be limited to some
//! cluster ids and some collections.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

/// Why a request was not authenticated or not allowed. The token itself
/// never appears in a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `authorization` header (or token field) at all.
    #[error("missing authorization: send `authorization: Token <token>`")]
    MissingToken,
    /// The header is not `Token <t>` or `Bearer <t>`.
    #[error("malformed authorization header: expected `Token <token>` or `Bearer <token>`")]
    MalformedHeader,
    /// The token is not one of the configured tokens.
    #[error("invalid token")]
    InvalidToken,
    /// No `x-cluster-id`.
    #[error("missing x-cluster-id")]
    MissingClusterId,
    /// The cluster id breaks the rule.
    #[error("invalid x-cluster-id: {0}")]
    InvalidClusterId(String),
    /// The token is valid but may not do this (HTTP 403, PERMISSION_DENIED).
    #[error("{0}")]
    Forbidden(String),
}

/// What one token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Identifies the token (its position in the configuration) for rate
    /// limits, without keeping its text around.
    pub id: usize,
    /// May send metrics.
    pub write: bool,
    /// May query and subscribe.
    pub read: bool,
    /// The cluster ids it may write as and read; all when None.
    pub clusters: Option<HashSet<String>>,
    /// The collections it may write and read; all when None.
    pub collections: Option<HashSet<String>>,
}

impl Grant {
    /// True when the token may write or read `collection`.
    pub fn allows_collection(&self, collection: &str) -> bool {
        self.collections.as_ref().is_none_or(|c| c.contains(collection))
    }

    /// True when the token may write as or read `cluster`.
    pub fn allows_cluster(&self, cluster: &str) -> bool {
        self.clusters.as_ref().is_none_or(|c| c.contains(cluster))
    }

    /// Refuses a collection the token is not for.
    pub fn check_collection(&self, collection: &str) -> Result<(), AuthError> {
        if self.allows_collection(collection) {
            Ok(())
        } else {
            Err(AuthError::Forbidden(format!("this token may not use collection {collection:?}")))
        }
    }

    /// Refuses a cluster the token is not for.
    pub fn check_cluster(&self, cluster: &str) -> Result<(), AuthError> {
        if self.allows_cluster(cluster) {
            Ok(())
        } else {
            Err(AuthError::Forbidden(format!("this token may not use cluster id {cluster:?}")))
        }
    }
}

/// A writer that passed authentication: its cluster id and its grant.
#[derive(Debug, Clone)]
pub struct Writer {
    /// The `x-cluster-id`.
    pub cluster: String,
    /// What its token may do.
    pub grant: Arc<Grant>,
}

/// The accepted tokens and their grants.
#[derive(Clone)]
pub struct Tokens(Arc<[(String, Arc<Grant>)]>);

/// One entry of `--tokens-file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToken {
    token: String,
    scopes: Vec<String>,
    #[serde(default)]
    clusters: Option<Vec<String>>,
    #[serde(default)]
    collections: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    tokens: Vec<FileToken>,
}

impl Tokens {
    /// Tokens that may write and read.
    pub fn new(tokens: &[String]) -> Self {
        Self::scoped(tokens, &[], &[])
    }

    /// Full, write-only and read-only tokens (empty strings are ignored).
    pub fn scoped(full: &[String], write: &[String], read: &[String]) -> Self {
        let mut all = Vec::new();
        for (list, w, r) in [(full, true, true), (write, true, false), (read, false, true)] {
            for token in list.iter().filter(|t| !t.is_empty()) {
                let grant = Grant { id: all.len(), write: w, read: r, clusters: None, collections: None };
                all.push((token.clone(), Arc::new(grant)));
            }
        }
        Self(all.into())
    }

    /// Adds the tokens of a `--tokens-file`, checking every entry.
    pub fn with_file(self, path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let file: TokensFile = serde_json::from_str(&text).map_err(|e| format!("is not a tokens file: {e}"))?;
        let mut all: Vec<(String, Arc<Grant>)> = self.0.to_vec();
        for (i, entry) in file.tokens.into_iter().enumerate() {
            let at = |problem: String| format!("tokens[{i}]: {problem}");
            if entry.token.is_empty() {
                return Err(at("token is empty".into()));
            }
            if all.iter().any(|(t, _)| *t == entry.token) {
                return Err(at("the same token is given twice".into()));
            }
            let (mut write, mut read) = (false, false);
            for scope in &entry.scopes {
                match scope.as_str() {
                    "write" => write = true,
                    "read" => read = true,
                    other => return Err(at(format!("unknown scope {other:?} (use \"write\" and/or \"read\")"))),
                }
            }
            if !write && !read {
                return Err(at("no scopes: give \"write\", \"read\" or both".into()));
            }
            if let Some(clusters) = &entry.clusters {
                for c in clusters {
                    if let Some(problem) = cluster_id_problem(c) {
                        return Err(at(format!("cluster id {c:?}: {problem}")));
                    }
                }
            }
            if let Some(collections) = &entry.collections {
                for c in collections {
                    crate::schema_map::check_collection_name(c).map_err(at)?;
                }
            }
            let grant = Grant {
                id: all.len(),
                write,
                read,
                clusters: entry.clusters.map(|c| c.into_iter().collect()),
                collections: entry.collections.map(|c| c.into_iter().collect()),
            };
            all.push((entry.token, Arc::new(grant)));
        }
        Ok(Self(all.into()))
    }

    /// True when no usable token is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Checks a bare token (no `Token ` prefix); returns its grant.
    pub fn check(&self, token: &str) -> Result<Arc<Grant>, AuthError> {
        if token.is_empty() {
            return Err(AuthError::MissingToken);
        }
        // Compare every configured token in full so that timing tells little.
        let mut found = None;
        for (t, grant) in self.0.iter() {
            if constant_time_eq(t.as_bytes(), token.as_bytes()) {
                found = Some(grant.clone());
            }
        }
        found.ok_or(AuthError::InvalidToken)
    }

    /// Checks an `authorization` header value (`Token <t>` or `Bearer <t>`),
    /// as raw bytes; returns the token's grant.
    pub fn check_header(&self, header: Option<&[u8]>) -> Result<Arc<Grant>, AuthError> {
        let Some(header) = header else {
            return Err(AuthError::MissingToken);
        };
        let header = std::str::from_utf8(header).map_err(|_| AuthError::MalformedHeader)?.trim();
        if header.is_empty() || header.eq_ignore_ascii_case("token") || header.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::MissingToken);
        }
        let token = strip_scheme(header).ok_or(AuthError::MalformedHeader)?;
        self.check(token.trim())
    }

    /// Checks a reader: a valid token with the read scope.
    pub fn check_reader(&self, grant: Result<Arc<Grant>, AuthError>) -> Result<Arc<Grant>, AuthError> {
        let grant = grant?;
        if !grant.read {
            return Err(AuthError::Forbidden(
                "this token may only write metrics; querying and subscribing need a read token".into(),
            ));
        }
        Ok(grant)
    }

    /// Checks the header and the cluster id together, as every ingestion
    /// request must pass (both as raw header bytes).
    pub fn authenticate_writer(
        &self,
        authorization: Option<&[u8]>,
        cluster_id: Option<&[u8]>,
    ) -> Result<Writer, AuthError> {
        let grant = self.check_header(authorization)?;
        let cluster = header_cluster_id(cluster_id)?;
        if !grant.write {
            return Err(AuthError::Forbidden("this token may only read; writing metrics needs a write token".into()));
        }
        grant.check_cluster(&cluster)?;
        Ok(Writer { cluster, grant })
    }
}

/// The `x-cluster-id` header's value, checked.
fn header_cluster_id(value: Option<&[u8]>) -> Result<String, AuthError> {
    let bytes = value.ok_or(AuthError::MissingClusterId)?;
    let text = String::from_utf8_lossy(bytes);
    validate_cluster_id(&text)?;
    Ok(text.into_owned())
}

fn strip_scheme(header: &str) -> Option<&str> {
    let (scheme, rest) = header.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") { Some(rest) } else { None }
}

/// Compares a configured token `a` with a client's `b` in time that depends
/// only on `b`'s length, so that timing tells neither the bytes nor the
/// length of `a`.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, y) in b.iter().enumerate() {
        let x = if a.is_empty() { 0 } else { a[i % a.len()] };
        diff |= x ^ y;
    }
    diff == 0
}

/// Longest accepted cluster id.
pub const MAX_CLUSTER_ID_LEN: usize = 128;

/// A cluster id is 1..=128 characters of `[A-Za-z0-9._:-]`.
pub fn validate_cluster_id(id: &str) -> Result<(), AuthError> {
    match cluster_id_problem(id) {
        None => Ok(()),
        Some(_) if id.is_empty() => Err(AuthError::MissingClusterId),
        Some(problem) => Err(AuthError::InvalidClusterId(problem)),
    }
}

/// What is wrong with `id` as a cluster id, in words that fit wherever it
/// came from (a header, a query parameter, a subscription filter).
pub fn cluster_id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("is empty".into());
    }
    if id.len() > MAX_CLUSTER_ID_LEN {
        return Some(format!("{} characters, the limit is {MAX_CLUSTER_ID_LEN}", id.len()));
    }
    let c = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))?;
    Some(format!("character {c:?} is not allowed (use A-Z a-z 0-9 . _ : -)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(t: &Tokens, h: &str) -> Result<(), AuthError> {
        t.check_header(Some(h.as_bytes())).map(|_| ())
    }

    #[test]
    fn headers() {
        let t = Tokens::new(&["abc".to_owned()]);
        assert_eq!(header(&t, "Token abc"), Ok(()));
        assert_eq!(header(&t, "Bearer abc"), Ok(()));
        assert_eq!(header(&t, "bearer  abc "), Ok(()));
        assert_eq!(header(&t, "Token abd"), Err(AuthError::InvalidToken));
        assert_eq!(header(&t, "abc"), Err(AuthError::MalformedHeader));
        assert_eq!(t.check_header(None).map(|_| ()), Err(AuthError::MissingToken));
        assert_eq!(header(&t, "Token "), Err(AuthError::MissingToken));
        assert_eq!(t.check_header(Some(b"Token \xff")).map(|_| ()), Err(AuthError::MalformedHeader));
    }

    #[test]
    fn comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcabc"));
        assert!(!constant_time_eq(b"abcabc", b"abc"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn cluster_ids() {
        assert!(validate_cluster_id("prod-eu.1:a_b").is_ok());
        assert!(validate_cluster_id("").is_err());
        assert!(validate_cluster_id("a b").is_err());
        assert!(validate_cluster_id("a\"b").is_err());
        assert!(validate_cluster_id(&"x".repeat(129)).is_err());
        assert!(validate_cluster_id(&"x".repeat(128)).is_ok());
        // Not ASCII: named as the character it is, not as a missing header.
        assert_eq!(
            header_cluster_id(Some("caf\u{e9}".as_bytes())),
            Err(AuthError::InvalidClusterId("character '\u{e9}' is not allowed (use A-Z a-z 0-9 . _ : -)".into()))
        );
    }

    #[test]
    fn scopes() {
        let t = Tokens::scoped(&["full".into()], &["w".into()], &["r".into()]);
        let auth = |token: &str| format!("Token {token}");
        assert!(t.authenticate_writer(Some(auth("full").as_bytes()), Some(b"c")).is_ok());
        assert!(t.authenticate_writer(Some(auth("w").as_bytes()), Some(b"c")).is_ok());
        let e = t.authenticate_writer(Some(auth("r").as_bytes()), Some(b"c")).unwrap_err();
        assert!(matches!(e, AuthError::Forbidden(m) if m.contains("may only read")));
        assert!(t.check_reader(t.check("r")).is_ok());
        assert!(t.check_reader(t.check("full")).is_ok());
        let e = t.check_reader(t.check("w")).unwrap_err();
        assert!(matches!(e, AuthError::Forbidden(m) if m.contains("may only write")));
        let ids: Vec<usize> = ["full", "w", "r"].iter().map(|k| t.check(k).unwrap().id).collect();
        assert_eq!(ids, [0, 1, 2]);
    }

    #[test]
    fn tokens_file() {
        let dir = std::env::temp_dir().join(format!("em-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens.json");
        std::fs::write(
            &path,
            r#"{"tokens":[{"token":"page","scopes":["write"],"clusters":["web"],"collections":["clicks"]},
                          {"token":"dash","scopes":["read"]}]}"#,
        )
        .unwrap();
        let t = Tokens::new(&["admin".into()]).with_file(&path).unwrap();
        assert_eq!(t.len(), 3);
        let w = t.authenticate_writer(Some(b"Token page"), Some(b"web")).unwrap();
        assert!(w.grant.allows_collection("clicks") && !w.grant.allows_collection("other"));
        let e = t.authenticate_writer(Some(b"Token page"), Some(b"other")).unwrap_err();
        assert_eq!(e, AuthError::Forbidden("this token may not use cluster id \"other\"".into()));
        for (bad, needle) in [
            (r#"{"tokens":[{"token":"x","scopes":["admin"]}]}"#, "unknown scope"),
            (r#"{"tokens":[{"token":"x","scopes":[]}]}"#, "no scopes"),
            (r#"{"tokens":[{"token":"admin","scopes":["read"]}]}"#, "twice"),
            (r#"{"tokens":[{"token":"x","scopes":["read"],"clusters":["a b"]}]}"#, "is not allowed"),
            (r#"{"tokens":[{"token":"x","scope":["read"]}]}"#, "unknown field"),
        ] {
            std::fs::write(&path, bad).unwrap();
            let e = Tokens::new(&["admin".into()]).with_file(&path).err().unwrap();
            assert!(e.contains(needle), "{bad}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
