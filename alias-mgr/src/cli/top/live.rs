//! The full-screen view on the terminal (crossterm through ratatui): keys,
//! resizes, a new sample every interval, and the terminal given back as it
//! was on every way out: a key, SIGINT, SIGTERM, SIGHUP, an error, and a
//! panic (ratatui's hook restores it first). Ctrl-Z suspends as a shell
//! expects, with the terminal restored while stopped.

use std::io::stdout;

use anyhow::{Context, Result};
use futures::StreamExt;
use ratatui::{
    crossterm::{
        event::{Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers},
        execute,
        terminal::{enable_raw_mode, EnterAlternateScreen},
    },
    DefaultTerminal,
};
use tokio::signal::unix::{signal, SignalKind};

use super::{
    sample::{Problem, Sampler},
    screen::{draw, Theme},
    view::{Command, Flow, View},
};

/// What a key means to `top`; None: nothing (the screen is redrawn).
fn command_of(key: KeyEvent) -> Option<Key> {
    if key.kind != KeyEventKind::Press {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let command = match key.code {
        KeyCode::Char('c') | KeyCode::Char('d') if ctrl => Command::Quit,
        KeyCode::Char('z') if ctrl => return Some(Key::Suspend),
        KeyCode::Char('l') if ctrl => return Some(Key::Redraw),
        KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => Command::Quit,
        KeyCode::Char('s') | KeyCode::Right | KeyCode::Char('>') => Command::NextSort,
        KeyCode::Char('S') | KeyCode::Left | KeyCode::Char('<') => Command::PreviousSort,
        KeyCode::Char('r') => Command::Reverse,
        KeyCode::Char('i') => Command::NextInterface,
        KeyCode::Char('z') => Command::NextZone,
        KeyCode::Char('c') => Command::ClearFilters,
        KeyCode::Char('p') | KeyCode::Char(' ') => Command::Pause,
        KeyCode::Up | KeyCode::Char('k') => Command::Up,
        KeyCode::Down | KeyCode::Char('j') => Command::Down,
        KeyCode::PageUp => Command::PageUp,
        KeyCode::PageDown => Command::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Command::Home,
        KeyCode::End | KeyCode::Char('G') => Command::End,
        _ => return None,
    };
    Some(Key::View(command))
}

#[derive(Debug, PartialEq)]
enum Key {
    View(Command),
    Suspend,
    Redraw,
}

/// Runs the view until it is quit; the terminal is restored before this
/// returns, whatever the outcome.
pub(super) async fn run(sampler: Sampler, view: View, theme: Theme) -> Result<()> {
    let terminal =
        ratatui::try_init().context("setting up the terminal for the full-screen view")?;
    let outcome = event_loop(terminal, sampler, view, theme).await;
    ratatui::restore();
    outcome
}

async fn event_loop(
    mut terminal: DefaultTerminal,
    mut sampler: Sampler,
    mut view: View,
    theme: Theme,
) -> Result<()> {
    let mut events = EventStream::new();
    let start = tokio::time::Instant::now() + view.interval;
    let mut ticks = tokio::time::interval_at(start, view.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    loop {
        terminal.draw(|frame| draw(frame, &mut view, theme))?;
        tokio::select! {
            _ = ticks.tick() => match sampler.next().await {
                Ok(sample) => view.push(sample),
                // Shown, and tried again next interval (the map may be back).
                Err(err) => view.sample.problems = vec![Problem {
                    serious: true,
                    text: format!("reading the counters failed: {err:#}"),
                }],
            },
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => {
                    if on_key(key, &mut view, &mut terminal)? == Flow::Quit {
                        return Ok(());
                    }
                }
                // A resize (or anything else) is one more draw.
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err).context("reading the terminal"),
                // The terminal is gone.
                None => return Ok(()),
            },
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            _ = hangup.recv() => return Ok(()),
        }
    }
}

fn on_key(key: KeyEvent, view: &mut View, terminal: &mut DefaultTerminal) -> Result<Flow> {
    match command_of(key) {
        Some(Key::View(command)) => return Ok(view.command(command)),
        Some(Key::Suspend) => suspend(terminal)?,
        Some(Key::Redraw) => terminal.clear()?,
        None => {}
    }
    Ok(Flow::Go)
}

/// Ctrl-Z: the terminal restored, the process stopped as the shell's job
/// control expects; on `fg`, the view again.
fn suspend(terminal: &mut DefaultTerminal) -> Result<()> {
    ratatui::restore();
    // SAFETY: raise only sends this process a signal.
    unsafe { libc::raise(libc::SIGTSTP) };
    enable_raw_mode()?;
    execute!(stdout(), EnterAlternateScreen)?;
    terminal.clear()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> Option<Key> {
        command_of(KeyEvent::new(code, modifiers))
    }

    #[test]
    fn keys_map_to_what_the_help_line_says() {
        let none = KeyModifiers::NONE;
        assert_eq!(
            key(KeyCode::Char('q'), none),
            Some(Key::View(Command::Quit))
        );
        assert_eq!(
            key(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Key::View(Command::Quit))
        );
        assert_eq!(
            key(KeyCode::Char('c'), none),
            Some(Key::View(Command::ClearFilters))
        );
        assert_eq!(
            key(KeyCode::Char('z'), KeyModifiers::CONTROL),
            Some(Key::Suspend)
        );
        assert_eq!(
            key(KeyCode::Char('z'), none),
            Some(Key::View(Command::NextZone))
        );
        assert_eq!(
            key(KeyCode::Char('S'), KeyModifiers::SHIFT),
            Some(Key::View(Command::PreviousSort))
        );
        assert_eq!(
            key(KeyCode::Char(' '), none),
            Some(Key::View(Command::Pause))
        );
        assert_eq!(key(KeyCode::Char('x'), none), None);
    }
}
