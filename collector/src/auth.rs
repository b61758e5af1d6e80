//! Authentication: API tokens and cluster ids.

use std::sync::Arc;

/// Why a request was not authenticated. The token itself never appears in a
/// message.
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
}

/// The set of accepted tokens.
#[derive(Clone)]
pub struct Tokens(Arc<[String]>);

impl Tokens {
    /// Accepts exactly these tokens.
    pub fn new(tokens: &[String]) -> Self {
        Self(tokens.iter().filter(|t| !t.is_empty()).cloned().collect())
    }

    /// True when no usable token is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks a bare token (no `Token ` prefix).
    pub fn check(&self, token: &str) -> Result<(), AuthError> {
        if token.is_empty() {
            return Err(AuthError::MissingToken);
        }
        // Compare every configured token in full so that timing tells little.
        let mut ok = false;
        for t in self.0.iter() {
            ok |= constant_time_eq(t.as_bytes(), token.as_bytes());
        }
        if ok { Ok(()) } else { Err(AuthError::InvalidToken) }
    }

    /// Checks an `authorization` header value (`Token <t>` or `Bearer <t>`).
    pub fn check_header(&self, header: Option<&str>) -> Result<(), AuthError> {
        let header = header.map(str::trim).unwrap_or_default();
        if header.is_empty() {
            return Err(AuthError::MissingToken);
        }
        if header.eq_ignore_ascii_case("token") || header.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::MissingToken);
        }
        let token = strip_scheme(header).ok_or(AuthError::MalformedHeader)?;
        self.check(token.trim())
    }

    /// Checks the header and the cluster id together, as every ingestion
    /// request must pass; returns the cluster id.
    pub fn authenticate<'a>(
        &self,
        authorization: Option<&str>,
        cluster_id: Option<&'a str>,
    ) -> Result<&'a str, AuthError> {
        self.check_header(authorization)?;
        let cluster_id = cluster_id.ok_or(AuthError::MissingClusterId)?;
        validate_cluster_id(cluster_id)?;
        Ok(cluster_id)
    }
}

fn strip_scheme(header: &str) -> Option<&str> {
    let (scheme, rest) = header.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") { Some(rest) } else { None }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

    #[test]
    fn headers() {
        let t = Tokens::new(&["abc".to_owned()]);
        assert_eq!(t.check_header(Some("Token abc")), Ok(()));
        assert_eq!(t.check_header(Some("Bearer abc")), Ok(()));
        assert_eq!(t.check_header(Some("bearer  abc ")), Ok(()));
        assert_eq!(t.check_header(Some("Token abd")), Err(AuthError::InvalidToken));
        assert_eq!(t.check_header(Some("abc")), Err(AuthError::MalformedHeader));
        assert_eq!(t.check_header(None), Err(AuthError::MissingToken));
        assert_eq!(t.check_header(Some("Token ")), Err(AuthError::MissingToken));
    }

    #[test]
    fn cluster_ids() {
        assert!(validate_cluster_id("prod-eu.1:a_b").is_ok());
        assert!(validate_cluster_id("").is_err());
        assert!(validate_cluster_id("a b").is_err());
        assert!(validate_cluster_id("a\"b").is_err());
        assert!(validate_cluster_id(&"x".repeat(129)).is_err());
        assert!(validate_cluster_id(&"x".repeat(128)).is_ok());
    }
}
