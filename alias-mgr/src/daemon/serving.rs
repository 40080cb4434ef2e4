//! The daemon's side of serving: binding the metrics port, the warning for
//! metrics open to the network, and the web server's task.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{anyhow, Result};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use crate::{
    logging::warning,
    metrics::{Exporter, MetricsEndpoint},
    web::{self, WebSettings},
};

/// Binds the metrics port, with a hint for the usual reasons it fails.
pub(super) async fn listen(address: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|err| {
        let hint = match err.kind() {
            io::ErrorKind::AddrInUse => {
                "; another process (another alias-mgr daemon?) has the port: stop it or pick another port with --listen ADDR:PORT"
            }
            io::ErrorKind::AddrNotAvailable => {
                "; no interface has that address: use 127.0.0.1 or an address of this host"
            }
            _ => "",
        };
        anyhow!("cannot listen on {address}: {err}{hint}")
    })
}

/// Metrics beyond loopback without TLS or a password are every address of
/// the host, in clear, for anyone who can reach the port: said at start.
pub(super) fn warn_if_exposed(
    listening: SocketAddr,
    (tls, auth): (bool, bool),
    has_web_config: bool,
) {
    if listening.ip().is_loopback() {
        return;
    }
    let missing = match (tls, auth) {
        (true, true) => return,
        (false, false) => "without TLS or authentication",
        (false, true) => "without TLS (passwords go in clear)",
        (true, false) => "without authentication",
    };
    let fix = if has_web_config {
        match tls {
            true => "add basic_auth_users, or client_auth_type: RequireAndVerifyClientCert, to the web config",
            false => "add tls_server_config to the web config",
        }
    } else {
        "set them up in a web config file and pass it with --web.config.file FILE (README, \"Securing the metrics\")"
    };
    warning!("metrics on {listening} are served {missing} to anyone who can reach the port; {fix}");
}

/// The `/metrics` server, running on its own task until stopped.
pub(super) struct MetricsServer {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MetricsServer {
    pub(super) fn start(
        listener: TcpListener,
        web: Arc<WebSettings>,
        exporter: Arc<Exporter>,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let endpoint = MetricsEndpoint::new(exporter);
        let task = tokio::spawn(web::serve(listener, web, endpoint, async move {
            let mut stopped = stopped;
            // Also resolves when the sender is gone.
            let _ = stopped.wait_for(|stop| *stop).await;
        }));
        Self { stop, task }
    }

    pub(super) async fn stop(self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(2), self.task)
            .await
            .is_err()
        {
            warning!("the metrics server did not stop within 2 s");
        }
    }
}
