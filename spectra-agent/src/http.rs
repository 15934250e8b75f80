//! The HTTP client every Spectra program that talks to a server uses: the agent, and the
//! CLI's admin commands, which build with this module alone (the crate's `runtime` feature
//! off).

use std::time::Duration;

use rustls_pki_types::pem::PemObject;

use crate::AgentError;

/// An HTTP client that checks `https://` servers against the certificate authorities in
/// `ca_file` (none but those: a server's certificate is never taken on trust), with the
/// agent's connect timeout; the admin commands use it too.
pub fn http_client(ca_file: Option<&std::path::Path>) -> Result<reqwest::Client, AgentError> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| AgentError::Config(format!("ca_file {}: {e}", path.display())))?;
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert =
                cert.map_err(|e| AgentError::Config(format!("ca_file {}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| AgentError::Config(format!("ca_file {}: {e}", path.display())))?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| AgentError::Config(format!("TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("spectra-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| AgentError::Config(format!("HTTP client: {e}")))
}
