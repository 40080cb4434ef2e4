//! A progress line on stderr while `apply` runs: from one second on, when
//! stderr is a terminal, `alias-mgr: applying: 4000 of 10000 steps`,
//! rewritten in place four times a second and wiped at the end. Never on
//! a pipe or in the journal, where a line a second would only be noise.

use std::{
    io::{IsTerminal, Write},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::task::JoinHandle;

use crate::kernel::Progress;

/// Shown only once a run takes longer than this.
const AFTER: Duration = Duration::from_secs(1);
const EVERY: Duration = Duration::from_millis(250);

pub(super) struct ProgressLine {
    task: Option<JoinHandle<()>>,
    shown: Arc<AtomicBool>,
}

impl ProgressLine {
    pub(super) fn start(progress: Arc<Progress>) -> Self {
        let shown = Arc::new(AtomicBool::new(false));
        if !std::io::stderr().is_terminal() {
            return Self { task: None, shown };
        }
        let flag = Arc::clone(&shown);
        let task = tokio::spawn(async move {
            tokio::time::sleep(AFTER).await;
            loop {
                let (done, total) = progress.now();
                if total > 0 {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\ralias-mgr: applying: {done} of {total} steps");
                    let _ = err.flush();
                    flag.store(true, Ordering::Relaxed);
                }
                tokio::time::sleep(EVERY).await;
            }
        });
        Self {
            task: Some(task),
            shown,
        }
    }

    /// Stops the line and wipes it, so what follows starts a clean line.
    pub(super) fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        if self.shown.load(Ordering::Relaxed) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}
