//! Who may hold a connection, and for how long. Idle and slow clients must
//! never starve a scrape:
//! - a connection must finish its first request head within
//!   [`FIRST_REQUEST`] of being accepted (TLS handshake included), and a
//!   kept-alive one its next within [`KEEP_ALIVE`] of the last response:
//!   a client dribbling a header byte at a time (slow loris) is dropped;
//! - a request in flight whose connection moves no byte for [`STALL`] (a
//!   client that stopped reading) is dropped, so is one older than
//!   [`REQUEST_LIMIT`];
//! - at most [`Connections::limit`] are open; a new one beyond it evicts an
//!   idle connection of the peer holding the most, so one flooding host
//!   loses its own connections, not Prometheus' (none idle: refused).

use std::{
    collections::BTreeMap,
    io,
    net::IpAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::Notify,
    time::Instant,
};

pub const FIRST_REQUEST: Duration = Duration::from_secs(10);
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);
pub const STALL: Duration = Duration::from_secs(10);
pub const REQUEST_LIMIT: Duration = Duration::from_secs(60);

/// One open connection's clock and activity.
pub struct Connection {
    accepted: Instant,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// Milliseconds after `accepted`.
    idle_since: AtomicU64,
    last_progress: AtomicU64,
    request_started: AtomicU64,
    evict: Notify,
}

impl Connection {
    fn new() -> Self {
        Self {
            accepted: Instant::now(),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            last_progress: AtomicU64::new(0),
            request_started: AtomicU64::new(0),
            evict: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        self.accepted.elapsed().as_millis() as u64
    }

    fn at(&self, ms: u64) -> Instant {
        self.accepted + Duration::from_millis(ms)
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
    }

    /// Marks a request as being answered until the guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        let now = self.now();
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.request_started.store(now, Ordering::Relaxed);
        self.last_progress.store(now, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    fn progressed(&self) {
        self.last_progress.store(self.now(), Ordering::Relaxed);
    }

    fn deadline(&self) -> Instant {
        if !self.is_idle() {
            let stall = self.at(self.last_progress.load(Ordering::Relaxed)) + STALL;
            let limit = self.at(self.request_started.load(Ordering::Relaxed)) + REQUEST_LIMIT;
            stall.min(limit)
        } else if self.requests.load(Ordering::Relaxed) == 0 {
            self.accepted + FIRST_REQUEST
        } else {
            self.at(self.idle_since.load(Ordering::Relaxed)) + KEEP_ALIVE
        }
    }

    /// Resolves when the connection has overstayed (see the module docs)
    /// or was evicted.
    pub async fn expired(&self) {
        loop {
            let deadline = self.deadline();
            if Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {}
                () = self.evict.notified() => return,
            }
        }
    }
}

/// A request being answered; dropping it makes the connection idle.
pub struct InFlight(Arc<Connection>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.idle_since.store(self.0.now(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct Connections {
    limit: usize,
    open: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    next: u64,
    entries: BTreeMap<u64, (IpAddr, Arc<Connection>)>,
}

/// A place among the open connections, given back on drop.
pub struct Admitted {
    owner: Arc<Connections>,
    id: u64,
    pub connection: Arc<Connection>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.owner.registry().entries.remove(&self.id);
    }
}

impl Connections {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            open: Mutex::default(),
        })
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        match self.open.lock() {
            Ok(registry) => registry,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.registry().entries.len()
    }

    /// Takes a new connection from `peer`, evicting an idle one if full;
    /// None: every open connection is busy, refuse this one.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Admitted> {
        let mut registry = self.registry();
        if registry.entries.len() >= self.limit {
            let victim = evictee(&registry.entries)?;
            if let Some((_, connection)) = registry.entries.remove(&victim) {
                connection.evict.notify_one();
            }
        }
        let id = registry.next;
        registry.next += 1;
        let connection = Arc::new(Connection::new());
        registry.entries.insert(id, (peer, connection.clone()));
        Some(Admitted {
            owner: self.clone(),
            id,
            connection,
        })
    }
}

/// The oldest idle connection of the peer with the most connections.
fn evictee(entries: &BTreeMap<u64, (IpAddr, Arc<Connection>)>) -> Option<u64> {
    let mut per_peer: BTreeMap<IpAddr, usize> = BTreeMap::new();
    for (peer, _) in entries.values() {
        *per_peer.entry(*peer).or_default() += 1;
    }
    entries
        .iter()
        .filter(|(_, (_, connection))| connection.is_idle())
        // Most connections first, then the oldest (smallest id).
        .min_by_key(|(id, (peer, _))| (std::cmp::Reverse(per_peer[peer]), **id))
        .map(|(id, _)| *id)
}

/// A stream that tells its connection whenever bytes move.
pub struct Tracked<S> {
    inner: S,
    connection: Arc<Connection>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, connection: Arc<Connection>) -> Self {
        Self { inner, connection }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.connection.progressed();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.connection.progressed();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_a_request_expires_and_a_busy_one_only_when_stalled() {
        let silent = Connection::new();
        let started = Instant::now();
        silent.expired().await;
        assert_eq!(started.elapsed().as_secs(), FIRST_REQUEST.as_secs());

        let busy = Arc::new(Connection::new());
        let request = busy.begin();
        tokio::time::sleep(Duration::from_secs(8)).await;
        busy.progressed();
        let started = Instant::now();
        busy.expired().await;
        assert_eq!(started.elapsed().as_secs(), STALL.as_secs());
        drop(request);
        let started = Instant::now();
        busy.expired().await;
        assert_eq!(started.elapsed().as_secs(), KEEP_ALIVE.as_secs());
    }

    #[tokio::test(start_paused = true)]
    async fn when_full_the_flooding_peers_oldest_idle_connection_goes() {
        let connections = Connections::new(3);
        let prometheus = connections.admit(ip("10.0.0.1")).unwrap();
        let flood_busy = connections.admit(ip("10.0.0.9")).unwrap();
        let _busy = flood_busy.connection.begin();
        let flood_idle = connections.admit(ip("10.0.0.9")).unwrap();
        let newcomer = connections.admit(ip("10.0.0.9")).unwrap();
        // The flooder's idle one was told to go and no longer counts.
        tokio::time::timeout(Duration::from_millis(1), flood_idle.connection.expired())
            .await
            .unwrap();
        assert_eq!(connections.open(), 3);
        drop(flood_idle);
        assert_eq!(connections.open(), 3);
        // Next: Prometheus' own idle one is all that is left to evict.
        let _busy_newcomer = newcomer.connection.begin();
        let _another = connections.admit(ip("10.0.0.9")).unwrap();
        tokio::time::timeout(Duration::from_millis(1), prometheus.connection.expired())
            .await
            .unwrap();
        drop(prometheus);
        // All busy: refused.
        let _third_busy = _another.connection.begin();
        assert!(connections.admit(ip("10.0.0.1")).is_none());
    }
}
