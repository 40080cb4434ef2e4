//! The web configuration in force, re-read when its file or a certificate,
//! key or CA file it names changes (checked at each new connection, a few
//! `stat`s): renewed certificates are served without a restart. A change
//! that does not load is logged once and the previous configuration stays.

use std::{
    collections::BTreeMap,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use tokio_rustls::TlsAcceptor;

use super::{auth::Users, config::WebConfig, tls};
use crate::logging::{error, info};

/// One loaded configuration, ready to serve with.
pub struct Active {
    pub config: WebConfig,
    pub tls: Option<TlsAcceptor>,
    pub users: Option<Arc<Users>>,
}

impl Active {
    fn plain() -> Self {
        Self {
            config: WebConfig::default(),
            tls: None,
            users: None,
        }
    }

    fn load(path: &Path) -> Result<Self, String> {
        // The main config's reader: a regular UTF-8 file of at most 16 MiB
        // that no other user may write (it decides who sees the metrics).
        let text = crate::config::read_file(path)
            .map_err(|err| format!("web config: {err}"))?
            .text;
        let dir = path.parent().unwrap_or(Path::new("."));
        let config = WebConfig::parse(&text, dir)
            .map_err(|err| format!("web config {}: {err}", path.display()))?;
        let tls = match &config.tls {
            Some(settings) => Some(
                tls::acceptor(settings)
                    .map_err(|err| format!("web config {}: {err}", path.display()))?,
            ),
            None => None,
        };
        let users = config
            .has_auth()
            .then(|| Arc::new(Users::new(config.users.clone())));
        Ok(Self { config, tls, users })
    }

    /// The files whose change means a reload.
    fn files(&self, path: &Path) -> Vec<PathBuf> {
        let mut files = vec![path.to_path_buf()];
        if let Some(tls) = &self.config.tls {
            files.extend([tls.cert_file.clone(), tls.key_file.clone()]);
            files.extend(tls.client_ca_file.clone());
        }
        files
    }
}

/// How long a changed file must be still before it is read.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

fn changed_recently(stamp: &(i64, i64, u64, u64, u64)) -> bool {
    let modified = std::time::UNIX_EPOCH
        + std::time::Duration::new(stamp.0.max(0) as u64, stamp.1.clamp(0, 999_999_999) as u32);
    std::time::SystemTime::now()
        .duration_since(modified)
        .map_or(true, |age| age < SETTLE)
}

/// A running daemon never serves with less than it started with on a file
/// change: an emptied or half-written file would read as "no TLS, no
/// password". Turning either off takes a restart.
fn no_less_secure(current: &Active, next: Active) -> Result<Active, String> {
    let (was, now) = (&current.config, &next.config);
    let dropped = match (
        was.has_tls() && !now.has_tls(),
        was.authenticates() && !now.authenticates(),
    ) {
        (true, true) => "TLS and authentication",
        (true, false) => "TLS",
        (false, true) => "authentication",
        (false, false) => return Ok(next),
    };
    Err(format!(
        "the new web config turns off {dropped}, which a running daemon does not do on a file change (an emptied or half-written file reads the same); restart the daemon to serve without it"
    ))
}

/// What identifies one version of a file (None: it is missing).
type Stamp = Option<(i64, i64, u64, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((
        meta.mtime(),
        meta.mtime_nsec(),
        meta.len(),
        meta.ino(),
        meta.dev(),
    ))
}

fn stamps(files: Vec<PathBuf>) -> BTreeMap<PathBuf, Stamp> {
    files.into_iter().map(|f| (f.clone(), stamp(&f))).collect()
}

pub struct WebSettings {
    path: Option<PathBuf>,
    state: Mutex<State>,
}

struct State {
    active: Arc<Active>,
    stamps: BTreeMap<PathBuf, Stamp>,
    /// The stamps of a change that failed to load, so it is logged once.
    failed: Option<BTreeMap<PathBuf, Stamp>>,
}

impl WebSettings {
    /// Plain HTTP, nobody asked for more.
    pub fn plain() -> Self {
        Self {
            path: None,
            state: Mutex::new(State {
                active: Arc::new(Active::plain()),
                stamps: BTreeMap::new(),
                failed: None,
            }),
        }
    }

    /// Loads `path` now; at start a file that does not load is an error.
    pub fn load(path: &Path) -> Result<Self, String> {
        let active = Active::load(path)?;
        let stamps = stamps(active.files(path));
        Ok(Self {
            path: Some(path.to_path_buf()),
            state: Mutex::new(State {
                active: Arc::new(active),
                stamps,
                failed: None,
            }),
        })
    }

    /// Whether TLS and authentication (a password or a required client
    /// certificate) are on, in the configuration in force.
    pub fn tls_and_auth(&self) -> (bool, bool) {
        let active = self.current();
        (active.config.has_tls(), active.config.authenticates())
    }

    /// The configuration to serve the next connection with.
    pub fn current(&self) -> Arc<Active> {
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(path) = &self.path else {
            return state.active.clone();
        };
        let now = stamps(state.stamps.keys().cloned().collect());
        if now == state.stamps || state.failed.as_ref() == Some(&now) {
            return state.active.clone();
        }
        // A file written a moment ago may be half-written: wait until it
        // has been still for SETTLE (the next connection looks again).
        if now.values().flatten().any(changed_recently) {
            return state.active.clone();
        }
        match Active::load(path).and_then(|active| no_less_secure(&state.active, active)) {
            Ok(active) => {
                info!("web config {} re-read", path.display());
                state.stamps = stamps(active.files(path));
                state.active = Arc::new(active);
                state.failed = None;
            }
            Err(err) => {
                error!("{err}; the previous web config stays in force");
                state.failed = Some(now);
            }
        }
        state.active.clone()
    }
}
