//! The web configuration file that node_exporter and every exporter built on
//! prometheus/exporter-toolkit read (`--web.config.file`, YAML): TLS, client
//! certificates, basic auth and response headers. Parsed and checked here
//! without touching the certificates; `tls` loads them. The only importer of
//! the YAML crate.
//!
//! Keys alias-mgr does not implement are refused by name rather than
//! ignored: a file written for a stricter exporter must not silently serve
//! less securely here.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<serde_norway::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<String>,
    key_file: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    client_ca: Option<String>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// What the web configuration asks for, paths made absolute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebConfig {
    pub tls: Option<TlsSettings>,
    /// User name to bcrypt hash; empty: no authentication.
    pub users: BTreeMap<String, String>,
    /// Extra response headers (the security headers exporter-toolkit allows).
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_auth: ClientAuth,
    pub client_ca_file: Option<PathBuf>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `NoClientCert` (the default).
    None,
    /// `VerifyClientCertIfGiven`: a certificate is optional, but checked.
    VerifyIfGiven,
    /// `RequireAndVerifyClientCert`.
    RequireAndVerify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// Response headers exporter-toolkit lets a web config set.
const ALLOWED_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

impl WebConfig {
    pub fn has_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn has_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether clients must prove who they are: a password, or a client
    /// certificate signed by the configured CA.
    pub fn authenticates(&self) -> bool {
        self.has_auth()
            || self
                .tls
                .as_ref()
                .is_some_and(|tls| tls.client_auth == ClientAuth::RequireAndVerify)
    }

    /// Parses the file's text. Relative paths are relative to `dir`, the
    /// file's directory, as in exporter-toolkit. Errors name the key and
    /// what to write instead.
    pub fn parse(text: &str, dir: &Path) -> Result<Self, String> {
        let raw: RawWebConfig = if text.trim().is_empty() {
            RawWebConfig::default()
        } else {
            serde_norway::from_str(text).map_err(|err| err.to_string())?
        };
        if raw.rate_limit.is_some() {
            return Err(unsupported("rate_limit", "remove it"));
        }
        let tls = match raw.tls_server_config {
            Some(tls) => tls_settings(tls, dir)?,
            None => None,
        };
        let users = raw.basic_auth_users.unwrap_or_default();
        for (user, hash) in &users {
            check_hash(user, hash)?;
        }
        let headers = match raw.http_server_config {
            Some(http) => headers(http)?,
            None => Vec::new(),
        };
        Ok(Self {
            tls,
            users,
            headers,
        })
    }
}

fn unsupported(key: &str, fix: &str) -> String {
    format!("{key} is not supported by alias-mgr; {fix}")
}

fn check_hash(user: &str, hash: &str) -> Result<(), String> {
    if user.contains(':') {
        return Err(format!(
            "basic_auth_users: user name {user:?} contains ':', which basic auth cannot carry"
        ));
    }
    hash.parse::<bcrypt::HashParts>().map(|_| ()).map_err(|_| {
        format!(
            "basic_auth_users: the password of {user:?} is not a bcrypt hash; make one with \
             `htpasswd -nBC 10 {user}` and paste the part after the ':'"
        )
    })
}

fn tls_settings(raw: RawTls, dir: &Path) -> Result<Option<TlsSettings>, String> {
    for (key, set) in [
        ("tls_server_config.cert", raw.cert.is_some()),
        ("tls_server_config.key", raw.key.is_some()),
        ("tls_server_config.client_ca", raw.client_ca.is_some()),
    ] {
        if set {
            return Err(unsupported(
                key,
                "put the PEM in a file and use the _file key",
            ));
        }
    }
    if raw.client_allowed_sans.is_some() {
        return Err(unsupported(
            "tls_server_config.client_allowed_sans",
            "remove it and give client_ca_file a CA that signs only the clients you allow",
        ));
    }
    for (key, set) in [
        (
            "tls_server_config.cipher_suites",
            raw.cipher_suites.is_some(),
        ),
        (
            "tls_server_config.curve_preferences",
            raw.curve_preferences.is_some(),
        ),
    ] {
        if set {
            return Err(unsupported(
                key,
                "remove it (rustls offers only its own safe choices)",
            ));
        }
    }
    let _ = raw.prefer_server_cipher_suites;
    let path = |p: Option<String>| p.filter(|p| !p.is_empty()).map(|p| dir.join(p));
    let (cert_file, key_file) = match (path(raw.cert_file), path(raw.key_file)) {
        (None, None) => {
            return match raw.client_ca_file.is_some() || raw.client_auth_type.is_some() {
                true => Err(
                    "tls_server_config: client certificates need TLS: set cert_file and key_file"
                        .into(),
                ),
                false => Ok(None),
            }
        }
        (Some(_), None) => {
            return Err("tls_server_config: cert_file is set but key_file is missing".into())
        }
        (None, Some(_)) => {
            return Err("tls_server_config: key_file is set but cert_file is missing".into())
        }
        (Some(cert), Some(key)) => (cert, key),
    };
    let client_ca_file = path(raw.client_ca_file);
    let client_auth = client_auth(raw.client_auth_type.as_deref(), client_ca_file.is_some())?;
    let min_version =
        version(raw.min_version.as_deref(), "min_version")?.unwrap_or(TlsVersion::Tls12);
    let max_version =
        version(raw.max_version.as_deref(), "max_version")?.unwrap_or(TlsVersion::Tls13);
    if min_version > max_version {
        return Err("tls_server_config: min_version is above max_version".into());
    }
    Ok(Some(TlsSettings {
        cert_file,
        key_file,
        client_auth,
        client_ca_file,
        min_version,
        max_version,
    }))
}

fn client_auth(kind: Option<&str>, has_ca: bool) -> Result<ClientAuth, String> {
    let auth = match kind.unwrap_or("") {
        "" | "NoClientCert" => ClientAuth::None,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(format!(
                "tls_server_config.client_auth_type {}: alias-mgr checks every client \
                 certificate it asks for; use VerifyClientCertIfGiven or \
                 RequireAndVerifyClientCert with client_ca_file",
                kind.unwrap_or_default()
            ))
        }
        other => {
            return Err(format!(
                "tls_server_config.client_auth_type {other:?} is not one of NoClientCert, \
                 VerifyClientCertIfGiven, RequireAndVerifyClientCert"
            ))
        }
    };
    match (auth, has_ca) {
        (ClientAuth::None, true) => Err("tls_server_config: client_ca_file is set without a \
             client_auth_type; add client_auth_type: RequireAndVerifyClientCert"
            .into()),
        (ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify, false) => Err(
            "tls_server_config: checking client certificates needs client_ca_file, the CA \
             that signs them"
                .into(),
        ),
        _ => Ok(auth),
    }
}

fn version(text: Option<&str>, key: &str) -> Result<Option<TlsVersion>, String> {
    match text.unwrap_or("") {
        "" => Ok(None),
        "TLS12" => Ok(Some(TlsVersion::Tls12)),
        "TLS13" => Ok(Some(TlsVersion::Tls13)),
        "TLS10" | "TLS11" => Err(format!(
            "tls_server_config.{key} {}: TLS 1.0 and 1.1 are not offered; use TLS12 or TLS13",
            text.unwrap_or_default()
        )),
        other => Err(format!(
            "tls_server_config.{key} {other:?} is not one of TLS12, TLS13"
        )),
    }
}

fn headers(raw: RawHttp) -> Result<Vec<(String, String)>, String> {
    // HTTP/2 is not offered (Prometheus scrapes over HTTP/1.1); a config
    // that enables it still works, over HTTP/1.1.
    let _ = raw.http2;
    let mut out = Vec::new();
    for (name, value) in raw.headers.unwrap_or_default() {
        let Some(known) = ALLOWED_HEADERS
            .iter()
            .find(|allowed| allowed.eq_ignore_ascii_case(&name))
        else {
            return Err(format!(
                "http_server_config.headers: {name} cannot be set; allowed are {}",
                ALLOWED_HEADERS.join(", ")
            ));
        };
        if value.contains(['\r', '\n']) {
            return Err(format!(
                "http_server_config.headers: the value of {name} has a line break"
            ));
        }
        out.push((known.to_string(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // `htpasswd -nbBC 4 prom secret`
    const HASH: &str = "$2y$04$fTLqXt7z972hXdCtD8n1rebPXq5Jys/YIKMBnmn/pRPPNWUVT4cPC";

    fn parse(text: &str) -> Result<WebConfig, String> {
        WebConfig::parse(text, Path::new("/etc/alias-mgr"))
    }

    #[test]
    fn an_empty_file_is_plain_http_without_auth() {
        let config = parse("").unwrap();
        assert!(!config.has_tls() && !config.has_auth());
        assert_eq!(parse("tls_server_config: {}\n").unwrap(), config);
    }

    #[test]
    fn the_node_exporter_example_parses_with_paths_beside_the_file() {
        let config = parse(&format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: /abs/server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
             min_version: TLS13\nbasic_auth_users:\n  prom: {HASH}\n\
             http_server_config:\n  headers:\n    x-frame-options: deny\n"
        ))
        .unwrap();
        let tls = config.tls.clone().unwrap();
        assert_eq!(tls.cert_file, Path::new("/etc/alias-mgr/server.crt"));
        assert_eq!(tls.key_file, Path::new("/abs/server.key"));
        assert_eq!(
            tls.client_ca_file.as_deref(),
            Some(Path::new("/etc/alias-mgr/ca.crt"))
        );
        assert_eq!(tls.client_auth, ClientAuth::RequireAndVerify);
        assert_eq!(tls.min_version, TlsVersion::Tls13);
        assert_eq!(config.users["prom"], HASH);
        assert_eq!(
            config.headers,
            [("X-Frame-Options".to_string(), "deny".to_string())]
        );
    }

    #[test]
    fn a_required_client_certificate_is_authentication_an_optional_one_is_not() {
        let tls = |auth: &str| {
            parse(&format!(
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n  client_auth_type: {auth}\n"
            ))
            .unwrap()
        };
        assert!(tls("RequireAndVerifyClientCert").authenticates());
        assert!(!tls("VerifyClientCertIfGiven").authenticates());
        assert!(parse(&format!("basic_auth_users:\n  prom: {HASH}\n"))
            .unwrap()
            .authenticates());
        assert!(!parse("").unwrap().authenticates());
    }

    #[test]
    fn mistakes_are_named_with_their_fix() {
        let cases = [
            ("tls_server_config:\n  cert_file: a\n", "key_file is missing"),
            ("tls_server_config:\n  cert_fle: a\n", "unknown field `cert_fle`"),
            ("basic_auth_users:\n  prom: secret\n", "htpasswd -nBC 10 prom"),
            ("rate_limit:\n  interval: 1s\n", "rate_limit is not supported"),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n",
                "add client_auth_type",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
                "needs client_ca_file",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n",
                "use VerifyClientCertIfGiven",
            ),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n", "use TLS12"),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
                "above max_version",
            ),
            ("http_server_config:\n  headers:\n    Server: x\n", "Server cannot be set"),
            ("tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n", "need TLS"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
