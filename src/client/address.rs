//! Checks of the connection options every client takes, so the native and
//! the JS clients accept and refuse the same values with the same words.

use crate::engine::buffer::OptionError;

/// How a client spells its options in error messages (`api_addr` in Rust,
/// `apiAddr` in JS).
pub(crate) struct Spelling {
    pub api_addr: &'static str,
    pub cluster_id: &'static str,
    /// How to turn plaintext on: `insecure(true)`, `insecure: true`.
    pub insecure: &'static str,
}

/// The collector's rule for cluster ids: 1 to 128 of `A-Z a-z 0-9 . _ : -`.
pub(crate) fn check_cluster_id(id: &str, spelling: &Spelling) -> Result<(), OptionError> {
    let valid = (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    match valid {
        true => Ok(()),
        false => Err(OptionError::new(
            spelling.cluster_id,
            format!("\"{id}\" is not 1 to 128 characters of A-Z a-z 0-9 . _ : -"),
        )),
    }
}

/// `https://host:port` (or `http://` when insecure) from `host:port` or a URL.
pub(crate) fn base_url(addr: &str, insecure: bool, spelling: &Spelling) -> Result<String, OptionError> {
    let bad = |message: String| OptionError::new(spelling.api_addr, message);
    // A byte search for "://" rather than `split_once`: core's substring
    // searcher (and the panics of its slicing) is 3 KB of wasm code.
    let separator = addr.as_bytes().windows(3).position(|w| w == b"://");
    let (scheme, rest) = match separator.and_then(|i| Some((addr.get(..i)?, addr.get(i + 3..)?))) {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ((if insecure { "http" } else { "https" }).to_string(), addr),
    };
    let flag = spelling.insecure;
    match (scheme.as_str(), insecure) {
        ("https", false) | ("http", true) => {}
        ("http", false) => return Err(bad(format!("\"{addr}\" is plaintext; set {flag} to allow it"))),
        ("https", true) => return Err(bad(format!("\"{addr}\" asks for TLS but {flag} is set"))),
        _ => return Err(bad(format!("\"{addr}\": the scheme must be http or https"))),
    }
    let authority = rest.trim_end_matches('/');
    let valid = !authority.is_empty()
        && !authority.contains(['/', ' ', '?', '#', '@'])
        && authority.bytes().rposition(|b| b == b':').is_some_and(|colon| {
            colon > 0 && authority.get(colon + 1..).is_some_and(|port| port.parse::<u16>().is_ok())
        });
    if !valid {
        return Err(bad(format!("\"{addr}\" is not host:port")));
    }
    Ok(format!("{scheme}://{authority}"))
}

/// Sorts a gRPC status into "not now" (retried) and "never" (dropped).
/// `Unknown` and `Internal` carry connection errors from the transports.
#[cfg(feature = "native")]
pub(crate) fn grpc_failure(status: &tonic::Status, transport: &str) -> crate::engine::pipeline::Failure {
    use crate::engine::pipeline::Failure;
    use tonic::Code;
    let message = match status.message() {
        "" => format!("{transport} {:?}", status.code()),
        text => format!("{transport} {:?}: {text}", status.code()),
    };
    // A collector over a rate says when to come back, as HTTP's Retry-After
    // does (whole seconds).
    let retry_after_ms = status
        .metadata()
        .get("retry-after")
        .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok())
        .map(|seconds| seconds.saturating_mul(1000));
    match status.code() {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::ResourceExhausted
        | Code::Aborted
        | Code::Cancelled
        | Code::Unknown
        | Code::Internal => Failure::Retryable { message, retry_after_ms },
        _ => Failure::Permanent { message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUST: Spelling = Spelling { api_addr: "api_addr", cluster_id: "cluster_id", insecure: "insecure(true)" };

    #[test]
    fn addresses() {
        assert_eq!(base_url("collector:443", false, &RUST).unwrap(), "https://collector:443");
        assert_eq!(base_url("127.0.0.1:7070", true, &RUST).unwrap(), "http://127.0.0.1:7070");
        assert_eq!(base_url("https://collector:443/", false, &RUST).unwrap(), "https://collector:443");
        let plaintext = base_url("http://collector:80", false, &RUST).unwrap_err();
        assert_eq!(
            plaintext.to_string(),
            "option \"api_addr\": \"http://collector:80\" is plaintext; set insecure(true) to allow it"
        );
        assert!(base_url("collector", false, &RUST).is_err());
        assert!(base_url("ftp://collector:21", true, &RUST).is_err());
        assert!(base_url("https://user@collector:443", false, &RUST).is_err());
    }

    #[cfg(feature = "native")]
    #[test]
    fn grpc_statuses_sort_into_retryable_and_permanent() {
        use crate::engine::pipeline::Failure;
        let mut limited = tonic::Status::resource_exhausted("too many rows");
        limited.metadata_mut().insert("retry-after", tonic::metadata::MetadataValue::from(3u64));
        match grpc_failure(&limited, "gRPC") {
            Failure::Retryable { retry_after_ms, .. } => assert_eq!(retry_after_ms, Some(3000)),
            other => panic!("{other:?}"),
        }
        let unavailable = grpc_failure(&tonic::Status::unavailable("down"), "gRPC");
        assert!(matches!(unavailable, Failure::Retryable { retry_after_ms: None, .. }));
        let denied = grpc_failure(&tonic::Status::permission_denied("read-only token"), "gRPC");
        assert!(matches!(denied, Failure::Permanent { .. }));
        let over_limit = grpc_failure(&tonic::Status::invalid_argument("row over --max-row-bytes"), "gRPC");
        assert!(matches!(over_limit, Failure::Permanent { .. }));
    }

    #[test]
    fn cluster_ids() {
        assert!(check_cluster_id("prod-eu:1.a_b", &RUST).is_ok());
        for bad in [String::new(), "has space".into(), "x".repeat(129)] {
            assert_eq!(check_cluster_id(&bad, &RUST).unwrap_err().option, "cluster_id");
        }
    }
}
