//! This process's own resource use (CPU, memory, file descriptors), read
//! from /proc/self for the standard `process_*` families.

use anyhow::{Context, Result};

/// This process's resource use, read from /proc/self as the Go and Python
/// clients' process collectors do.
pub(super) struct ProcessStats {
    pub(super) cpu_seconds: f64,
    pub(super) resident_bytes: f64,
    pub(super) virtual_bytes: f64,
    pub(super) start_time: f64,
    pub(super) open_fds: f64,
    pub(super) max_fds: Option<f64>,
}

impl ProcessStats {
    pub(super) fn read() -> Result<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
        // The command name (field 2) may contain spaces: fields start after its ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // Field N of proc(5) is at index N - 3 here.
        let field = |n: usize| -> Result<f64> {
            fields
                .get(n - 3)
                .and_then(|f| f.parse::<f64>().ok())
                .with_context(|| format!("field {n} of /proc/self/stat"))
        };
        // SAFETY: sysconf only reads configuration values.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .context("btime in /proc/stat")?;
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .context("listing /proc/self/fd")?
            .count()
            // The directory being read holds one fd itself.
            .saturating_sub(1) as f64;
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the struct we own.
        let max_fds = (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0
            && limit.rlim_cur != libc::RLIM_INFINITY)
            .then_some(limit.rlim_cur as f64);
        Ok(Self {
            cpu_seconds: (field(14)? + field(15)?) / ticks,
            resident_bytes: field(24)? * page.max(1) as f64,
            virtual_bytes: field(23)?,
            start_time: boot_time + field(22)? / ticks,
            open_fds,
            max_fds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn process_metrics_are_read_from_proc() {
        let stats = ProcessStats::read().unwrap();
        assert!(stats.resident_bytes > 1_000_000.0);
        assert!(stats.virtual_bytes >= stats.resident_bytes);
        assert!(stats.open_fds >= 3.0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(stats.start_time > now - 3600.0 && stats.start_time <= now + 1.0);
    }
}
