//! Following the classifier's log: the warnings the eBPF classifier logs
//! with aya-log go to the daemon's log, tagged with the interface, and to
//! the warnings metric. One reader per log ring of the instances attached
//! under the pin dir.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use crate::{
    logging::{log, warning, Level},
    metrics::Exporter,
    sys::bpf::{ClassifierLog, PinDir},
};

/// How often the classifier's log rings are read. The classifier logs at
/// most one warning per second per CPU, far below what a ring holds.
pub(super) const CLASSIFIER_LOG_EVERY: Duration = Duration::from_secs(1);

/// Where the warnings the classifier logs with aya-log go: the daemon's log,
/// tagged with the interface, and the warnings metric.
struct ClassifierLogSink {
    interface: String,
    exporter: Arc<Exporter>,
}

impl log::Log for ClassifierLogSink {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let level = match record.level() {
            log::Level::Error | log::Level::Warn => Level::Warning,
            _ => Level::Info,
        };
        if level == Level::Warning {
            self.exporter.stats().classifier_warning();
        }
        log(
            level,
            format_args!("classifier on {}: {}", self.interface, record.args()),
        );
    }

    fn flush(&self) {}
}

/// The log rings being followed.
#[derive(Default)]
pub(super) struct ClassifierLogs {
    /// The log rings of the attached classifier instances, by ring map id.
    logs: BTreeMap<u32, ClassifierLog<ClassifierLogSink>>,
    /// Attached program id -> its log ring (None: built before the
    /// classifier logged), so each program is looked up once, not at every
    /// reconcile (a lookup walks every BPF program on the host).
    ring_of: BTreeMap<u32, Option<u32>>,
}

impl ClassifierLogs {
    /// Follows the log ring of every classifier instance attached under
    /// `pins`, and lets go of those no longer attached.
    pub(super) fn follow(&mut self, pins: &PinDir, exporter: &Arc<Exporter>) {
        let Some(current) = self.rings_in_use(pins) else {
            return;
        };
        // Read what is left before letting go of a ring.
        self.drain();
        self.logs.retain(|ring, _| current.contains_key(ring));
        for (ring, (program, interface)) in current {
            if self.logs.contains_key(&ring) {
                continue;
            }
            let sink = ClassifierLogSink {
                interface: interface.clone(),
                exporter: exporter.clone(),
            };
            match ClassifierLog::follow(program, sink) {
                Ok(log) => {
                    self.logs.insert(ring, log);
                }
                Err(err) => warning!("classifier log of {interface}: {err}"),
            }
        }
        self.drain();
    }

    /// Ring id -> (a program using it, its interface), for every program
    /// attached under `pins`; None when they cannot be listed.
    fn rings_in_use(&mut self, pins: &PinDir) -> Option<BTreeMap<u32, (u32, String)>> {
        let attached = match pins.attached_interfaces() {
            Ok(names) => names,
            Err(err) => {
                warning!("listing attached interfaces for the classifier log: {err}");
                return None;
            }
        };
        let mut current = BTreeMap::new();
        let mut ring_of = BTreeMap::new();
        for interface in attached {
            let ids = match pins.program_ids(&interface) {
                Ok(ids) => ids,
                Err(err) => {
                    warning!("classifier log of {interface}: {err}");
                    continue;
                }
            };
            // A program from before the classifier logged has no ring:
            // nothing to read, and nothing to warn about at every reconcile.
            for id in ids {
                let ring = match self.ring_of.get(&id) {
                    Some(known) => *known,
                    None => crate::sys::bpf::log_ring_id(id),
                };
                ring_of.insert(id, ring);
                if let Some(ring) = ring {
                    current.entry(ring).or_insert((id, interface.clone()));
                }
            }
        }
        self.ring_of = ring_of;
        Some(current)
    }

    /// Reads what every followed ring holds.
    pub(super) fn drain(&mut self) {
        for log in self.logs.values_mut() {
            if let Err(err) = log.drain() {
                warning!("{err}");
            }
        }
    }
}
