//! TLS for the web server with rustls (ring as the crypto provider: it
//! builds with the C compiler alone). The only importer of rustls.

use std::{path::Path, sync::Arc};

use tokio_rustls::{
    rustls::{
        self,
        pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
        server::WebPkiClientVerifier,
        RootCertStore, ServerConfig,
    },
    TlsAcceptor,
};

use super::config::{ClientAuth, TlsSettings, TlsVersion};

/// An acceptor for the certificates `settings` names, read now.
pub fn acceptor(settings: &TlsSettings) -> Result<TlsAcceptor, String> {
    let certs = certificates(&settings.cert_file, "cert_file")?;
    let key_pem = trusted_bytes(&settings.key_file, "key_file")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|err| {
        match String::from_utf8_lossy(&key_pem).contains("ENCRYPTED") {
            true => format!(
                "tls_server_config.key_file {}: the key is encrypted, and the daemon has no one to ask for its passphrase; decrypt it (`openssl pkey -in KEY -out PLAIN`) and keep it readable by root only",
                settings.key_file.display()
            ),
            false => format!(
                "tls_server_config.key_file {}: {err}; it must hold a PEM private key",
                settings.key_file.display()
            ),
        }
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(version, _)| (settings.min_version..=settings.max_version).contains(version))
    .map(|(_, supported)| supported)
    .collect();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|err| format!("tls_server_config: {err}"))?;
    let builder = match settings.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify => {
            let ca_file = settings
                .client_ca_file
                .as_deref()
                .ok_or("tls_server_config: client_ca_file is missing")?;
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca_file, "client_ca_file")? {
                roots.add(cert).map_err(|err| {
                    format!(
                        "tls_server_config.client_ca_file {}: {err}",
                        ca_file.display()
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match settings.client_auth {
                ClientAuth::VerifyIfGiven => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|err| format!("tls_server_config.client_ca_file: {err}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|err| {
        format!(
            "tls_server_config: the key in {} cannot serve the certificate in {}: {err} (the key must match the certificate; RSA keys need at least 2048 bits)",
            settings.key_file.display(),
            settings.cert_file.display()
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn certificates(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = trusted_bytes(path, key)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("tls_server_config.{key} {}: {err}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_server_config.{key} {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// A certificate, key or CA file, read with the config's checks: one
/// another user could write (a CA of their own, their own key) is refused.
fn trusted_bytes(path: &Path, key: &str) -> Result<Vec<u8>, String> {
    crate::config::read_file(path)
        .map(|file| file.text.into_bytes())
        .map_err(|err| format!("tls_server_config.{key}: {err}"))
}
