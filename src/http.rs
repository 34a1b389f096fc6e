//! The one way this crate builds HTTP clients, so every call has a timeout, honours the
//! worker's proxy settings (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, which Calamari passes on),
//! and trusts the operating system's certificate store (internal CAs, `SSL_CERT_FILE`).

use std::time::Duration;

/// Longest wait for a TCP/TLS connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a whole request, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds the shared client. Certificate verification is always on.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("vmss-check/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .use_rustls_tls()
        .build()
        // Only a broken TLS backend fails here; there is no input to blame.
        .expect("the HTTP client could not be built (TLS backend unavailable)")
}
