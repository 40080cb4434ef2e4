//! What `--runtime` changes the daemon must honour, kept under /run (a
//! tmpfs: a reboot clears it, as it clears the changes themselves).
//!
//! `del --runtime` of a declared alias records it here; the daemon leaves
//! it out of its reconciles (keeping its counters) until the next `apply`
//! (which clears the file), a change to that alias's entry in the config,
//! or a reboot. Without this the daemon could only guess, and it guessed
//! "drift" and put the alias back. (`add --runtime` needs no record: the
//! address carries alias-mgr's runtime protocol mark, which the daemon
//! leaves alone.) One file per config file, like the daemon.

use std::{
    fs,
    io::Write,
    net::IpAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::{
    core::{model::AliasSpec, text::stable_hash},
    lock::run_file,
};

/// One declared alias taken out for now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub interface: String,
    pub address: IpAddr,
    /// The entry as it was declared when removed: an edit of it ends the
    /// removal (the file says something new about that alias).
    pub declared_as: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeState {
    pub removed: Vec<Removal>,
}

fn declaration(alias: &AliasSpec) -> String {
    serde_json::to_string(alias).unwrap_or_default()
}

impl Removal {
    pub fn of(alias: &AliasSpec) -> Self {
        Self {
            interface: alias.interface.clone(),
            address: alias.ip(),
            declared_as: declaration(alias),
        }
    }

    fn matches(&self, alias: &AliasSpec) -> bool {
        alias.interface == self.interface && alias.ip() == self.address
    }
}

impl RuntimeState {
    /// `/run/alias-mgr/runtime-HASH.json`, HASH of the absolute config path.
    fn path(config: &Path) -> Result<PathBuf> {
        let absolute = std::path::absolute(config).unwrap_or_else(|_| config.to_path_buf());
        let hash = stable_hash(absolute.as_os_str().as_encoded_bytes());
        run_file(&format!("runtime-{hash:016x}.json"))
    }

    /// The state for `config`; none recorded (or unreadable: it is only
    /// ever written by alias-mgr, whole) is an empty one.
    pub fn load(config: &Path) -> Self {
        Self::path(config)
            .ok()
            .and_then(|path| fs::read(path).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Writes it whole (a rename), or removes the file when empty.
    pub fn save(&self, config: &Path) -> Result<()> {
        let path = Self::path(config)?;
        if self.removed.is_empty() {
            return match fs::remove_file(&path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    Err(err).with_context(|| format!("removing {}", path.display()))
                }
                _ => Ok(()),
            };
        }
        let temporary = path.with_extension("json.new");
        let text = serde_json::to_vec_pretty(self)?;
        fs::File::create(&temporary)
            .and_then(|mut file| file.write_all(&text))
            .and_then(|()| fs::rename(&temporary, &path))
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Records `alias` as removed for now (replacing an older record).
    pub fn remove_for_now(&mut self, alias: &AliasSpec) {
        self.removed.retain(|r| !r.matches(alias));
        self.removed.push(Removal::of(alias));
    }

    /// Forgets the removal of `interface`/`ip` (it was added back);
    /// whether there was one.
    pub fn forget(&mut self, interface: &str, ip: IpAddr) -> bool {
        let before = self.removed.len();
        self.removed
            .retain(|r| !(r.interface == interface && r.address == ip));
        before != self.removed.len()
    }

    /// Drops the removals the config no longer supports (the entry is gone
    /// or was edited since); whether any went.
    pub fn prune(&mut self, aliases: &[AliasSpec]) -> bool {
        let before = self.removed.len();
        self.removed.retain(|r| {
            aliases
                .iter()
                .any(|a| r.matches(a) && declaration(a) == r.declared_as)
        });
        before != self.removed.len()
    }

    /// The declared aliases removed for now, and the rest.
    pub fn split(&self, aliases: &[AliasSpec]) -> (Vec<AliasSpec>, Vec<AliasSpec>) {
        aliases
            .iter()
            .cloned()
            .partition(|a| self.removed.iter().any(|r| r.matches(a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::{alias, ip};

    #[test]
    fn a_removal_holds_until_its_entry_is_edited_or_dropped() {
        let declared = vec![alias("eth1", "192.0.2.5/24"), alias("eth1", "192.0.2.6/24")];
        let mut state = RuntimeState::default();
        state.remove_for_now(&declared[0]);
        state.remove_for_now(&declared[0]);
        assert_eq!(state.removed.len(), 1);
        assert!(!state.prune(&declared));
        let (removed, rest) = state.split(&declared);
        assert_eq!(removed, [declared[0].clone()]);
        assert_eq!(rest, [declared[1].clone()]);

        // Another alias added or removed in the file: the removal holds.
        let more = vec![declared[0].clone(), alias("eth1", "192.0.2.9/24")];
        assert!(!state.prune(&more));
        // Its own entry edited (a label): the file has the last word.
        let mut edited = declared.clone();
        edited[0].label = Some("eth1:7".into());
        assert!(state.clone().prune(&edited));
        assert!(state.clone().prune(&declared[1..]));
        assert!(state.forget("eth1", ip("192.0.2.5")));
        assert!(state.removed.is_empty());
    }

    #[test]
    fn state_files_round_trip_and_vanish_when_empty() {
        let config = std::env::temp_dir().join(format!("state-test-{}.toml", std::process::id()));
        let mut state = RuntimeState::default();
        state.remove_for_now(&alias("eth1", "192.0.2.5/24"));
        state.save(&config).unwrap();
        assert_eq!(RuntimeState::load(&config), state);
        RuntimeState::default().save(&config).unwrap();
        assert!(!RuntimeState::path(&config).unwrap().exists());
        assert_eq!(RuntimeState::load(&config), RuntimeState::default());
    }
}
