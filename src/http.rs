//! The one way this crate builds HTTP clients, so every call has a timeout, honours the
//! worker's proxy settings (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, which Calamari passes on),
//! and trusts the operating system's certificate store (internal CAs, `SSL_CERT_FILE`); and the
//! one place their transport errors are classified.

use crate::error::FailureKind;
use std::time::Duration;

/// Longest wait for a TCP/TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the shared client. Certificate verification is always on.
pub fn client(request_timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("vmss-check/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT.min(request_timeout))
        .timeout(request_timeout)
        .use_rustls_tls()
        .build()
        // Only a broken TLS backend fails here; there is no input to blame.
        .expect("the HTTP client could not be built (TLS backend unavailable)")
}

/// What kind of transport failure a reqwest error is: a timeout, a broken or refused
/// connection (transient), or a name that does not resolve or a TLS failure (permanent).
pub fn classify(e: &reqwest::Error) -> FailureKind {
    if e.is_timeout() {
        return FailureKind::Timeout;
    }
    let mut text = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionRefused => return FailureKind::ConnectionRefused,
                TimedOut => return FailureKind::Timeout,
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    return FailureKind::ConnectionLost
                }
                _ => {}
            }
        }
        text.push_str(&err.to_string().to_ascii_lowercase());
        text.push(' ');
        cur = err.source();
    }
    if text.contains("dns error") || text.contains("failed to lookup address") {
        FailureKind::Dns
    } else if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        FailureKind::Tls
    } else if e.is_connect() {
        FailureKind::ConnectionRefused
    } else {
        FailureKind::ConnectionLost
    }
}

/// A body without its UTF-8 byte-order mark: some Octopus servers (OctopusClients' recorded
/// answers carry one) and proxies start JSON with `EF BB BF`, which `serde_json` refuses.
pub fn without_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}
