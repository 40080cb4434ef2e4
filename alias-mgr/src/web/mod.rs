//! The HTTP service edge: a hyper server with the time and connection limits
//! that keep idle and slow clients from starving a scrape, TLS (rustls) and
//! basic auth (bcrypt) from an exporter-toolkit web config, gzip. Knows
//! nothing of metrics: a [`Handler`] says what each path answers. Uses only
//! `logging`; `metrics` and `daemon` use it.
//! - `server`: accept loop, connections, requests ([`serve`]);
//! - `connections`: the connection limit, eviction and time limits;
//! - `settings`: the web config in force, re-read on change;
//! - `config`: the YAML file, parsed and checked;
//! - `tls`, `auth`: rustls and bcrypt;
//! - `body`: streamed bodies and gzip.

use std::io;

mod auth;
mod body;
mod config;
mod connections;
mod server;
mod settings;
mod tls;

pub use body::BodyWriter;
pub use server::serve;
pub use settings::WebSettings;

/// Writes a streamed body; runs on a blocking thread.
pub type Producer = Box<dyn FnOnce(&mut BodyWriter) -> io::Result<()> + Send>;

/// What a path answers.
pub enum Reply {
    /// A small complete body (text, or HTML if it starts with `<`).
    Page { status: u16, body: String },
    /// A body produced in pieces, gzipped when the client accepts it.
    Stream {
        content_type: &'static str,
        produce: Producer,
    },
}

/// Decides what each GET or HEAD request answers (authentication and
/// methods are the server's business).
pub trait Handler: Send + Sync + 'static {
    fn reply(&self, path: &str) -> Reply;
}
