//! `alias-mgr top`: traffic per alias address as bit and packet rates,
//! from reads of the pinned counters map an interval apart. On a terminal,
//! a full-screen view (sort, filter, pause, the zones' verdicts, what is
//! wrong); `--once` prints one table, `--json` the same as JSON, and a
//! pipe, `--plain` or TERM=dumb get a table every interval (as `vmstat 1`
//! prints). It reads the map directly: no daemon needed, nothing on the
//! packet path.

mod live;
mod plain;
mod rates;
mod sample;
mod screen;
mod view;

use std::{io::IsTerminal, path::Path, time::Duration};

use anyhow::Result;

pub(super) use rates::parse_interval;

use super::output::say;
use crate::sys::bpf::PinDir;
use sample::{Detail, Sampler};

pub(super) struct TopRequest {
    pub interface: Option<String>,
    pub once: bool,
    pub json: bool,
    pub plain: bool,
    pub interval: Duration,
}

/// Whether this terminal can take the full-screen view: stdin and stdout
/// are a terminal, and TERM names one that can address the screen.
fn full_screen_possible() -> bool {
    let term = std::env::var("TERM").unwrap_or_default();
    std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal()
        && !term.is_empty()
        && term != "dumb"
}

/// NO_COLOR (no-color.org): set and not empty, no colour.
fn colour_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

pub(super) async fn top_command(config: &Path, pins: PinDir, request: TopRequest) -> Result<()> {
    let one_shot = request.once || request.json;
    if !one_shot && !request.plain && full_screen_possible() {
        let sampler = Sampler::start(config, pins, Detail::Everything).await?;
        let view = view::View::new(request.interval, request.interface);
        let theme = screen::Theme {
            color: colour_wanted(),
        };
        return live::run(sampler, view, theme).await;
    }
    let mut sampler = Sampler::start(config, pins, Detail::Rates).await?;
    loop {
        tokio::time::sleep(request.interval).await;
        let sample = sampler.next().await?;
        let rows: Vec<_> = sample
            .rows
            .into_iter()
            .filter(|r| {
                request
                    .interface
                    .as_deref()
                    .is_none_or(|only| r.interface.as_deref() == Some(only))
            })
            .collect();
        if request.json {
            say!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            say!("{}", plain::table(&rows, sample.seconds));
        }
        if one_shot {
            return Ok(());
        }
    }
}
