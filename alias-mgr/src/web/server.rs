//! The accept loop and each connection's HTTP/1.1, with hyper (the only
//! importer of hyper and http-body-util): TLS when configured, basic auth,
//! bounded request heads, and the time limits of `connections`.

use std::{convert::Infallible, future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::{
    body::{Frame, Incoming},
    header::{self, HeaderName, HeaderValue},
    server::conn::http1,
    service::service_fn,
    Method, Request, Response, StatusCode,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::{mpsc, Semaphore},
};

use super::{
    auth::Users,
    body::{accepts_gzip, BodyWriter, QUEUED_PIECES},
    connections::{Admitted, Connection, Connections, InFlight, Tracked, FIRST_REQUEST},
    settings::{Active, WebSettings},
    Handler, Reply,
};
use crate::logging::{debug, warning};

/// Connections open at once (see `connections` for who gives way).
pub const MAX_CONNECTIONS: usize = 256;
/// Streamed bodies produced at once; a request beyond waits up to
/// [`PRODUCER_WAIT`], then gets 503.
const MAX_PRODUCERS: usize = 4;
const PRODUCER_WAIT: Duration = Duration::from_secs(10);
/// Password checks at once: bcrypt is slow on purpose, and a flood of wrong
/// passwords must not take every core.
const MAX_AUTH_CHECKS: usize = 2;
const AUTH_WAIT: Duration = Duration::from_secs(5);
/// Larger request heads get 431 (Prometheus sends about 300 bytes; hyper's
/// smallest buffer is 8 KiB).
const MAX_REQUEST_HEAD: usize = 16 * 1024;

type Body = BoxBody<Bytes, io::Error>;

struct Shared {
    handler: Arc<dyn Handler>,
    settings: Arc<WebSettings>,
    producers: Arc<Semaphore>,
    auth_checks: Semaphore,
    /// When the bcrypt queue last turned a request away (warned once a minute).
    auth_busy_warned: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How a password check came out.
enum Checked {
    Passed,
    Failed,
    /// Not checked: too many checks waiting (a flood of guesses).
    Busy,
}

/// Serves `handler` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    settings: Arc<WebSettings>,
    handler: Arc<dyn Handler>,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Connections::new(MAX_CONNECTIONS);
    let shared = Arc::new(Shared {
        handler,
        settings: settings.clone(),
        producers: Arc::new(Semaphore::new(MAX_PRODUCERS)),
        auth_checks: Semaphore::new(MAX_AUTH_CHECKS),
        auth_busy_warned: std::sync::Mutex::new(None),
    });
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // EMFILE and friends: back off instead of spinning.
                    warning!("metrics: accepting a connection: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Every connection busy answering: this one waits for none of them.
        let Some(admitted) = connections.admit(peer.ip()) else {
            continue;
        };
        let active = settings.current();
        tokio::spawn(connection(stream, peer, admitted, active, shared.clone()));
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    admitted: Admitted,
    active: Arc<Active>,
    shared: Arc<Shared>,
) {
    let _ = stream.set_nodelay(true);
    let connection = admitted.connection.clone();
    let served = async {
        match &active.tls {
            Some(acceptor) => {
                if speaks_plain_http(&stream).await {
                    return answer_plain_http_on_tls(stream).await;
                }
                // A client whose certificate is refused is told by the TLS
                // alert; the log says so at debug level.
                let io = Tracked::new(stream, connection.clone());
                match acceptor.accept(io).await {
                    Ok(tls) => http(tls, peer, &connection, &shared).await,
                    Err(err) => debug!("metrics: TLS handshake with {peer} failed: {err}"),
                }
            }
            None => {
                let io = Tracked::new(stream, connection.clone());
                http(io, peer, &connection, &shared).await
            }
        }
    };
    tokio::select! {
        () = served => {}
        () = connection.expired() => {}
    }
    drop(admitted);
}

/// Whether a client on the TLS port opened with a plain HTTP request (a
/// TLS handshake starts with byte 0x16; a request with a method's letter).
async fn speaks_plain_http(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0].is_ascii_uppercase())
}

/// Tells a plain-HTTP client that this port speaks TLS, in words it reads.
async fn answer_plain_http_on_tls(mut stream: TcpStream) {
    use tokio::io::AsyncWriteExt;
    let body = "this port serves HTTPS (TLS is configured in the web config): use https://\n";
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

async fn http<S>(io: S, peer: SocketAddr, connection: &Arc<Connection>, shared: &Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(|request| {
        let in_flight = connection.begin();
        let shared = shared.clone();
        async move {
            // Read again per request: a password removed from the file
            // stops working on connections already open too.
            let now = shared.settings.current();
            let mut response = answer(request, peer, in_flight, &now, &shared).await;
            for (name, value) in &now.config.headers {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(value),
                ) {
                    response.headers_mut().insert(name, value);
                }
            }
            Ok::<_, Infallible>(response)
        }
    });
    // Errors are the client's (a malformed request gets its 400 from
    // hyper first) or a connection cut: nothing to do about either.
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(FIRST_REQUEST)
        .max_buf_size(MAX_REQUEST_HEAD)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn answer(
    request: Request<Incoming>,
    peer: SocketAddr,
    in_flight: InFlight,
    now: &Active,
    shared: &Arc<Shared>,
) -> Response<Body> {
    if let Some(users) = &now.users {
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|value| value.as_bytes().to_vec());
        let checked = match users.passed_before(header.as_deref()) {
            true => Checked::Passed,
            false => check_password(users.clone(), header, shared).await,
        };
        if let Checked::Busy = checked {
            shared.warn_auth_busy();
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy checking passwords (too many attempts at once); try again\n".into(),
            );
        }
        if let Checked::Failed = checked {
            debug!("metrics: 401 for {peer} (no or wrong credentials)");
            let mut response = page(StatusCode::UNAUTHORIZED, "unauthorized\n".into());
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"alias-mgr\""),
            );
            return response;
        }
    }
    let head_only = match *request.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut response = page(
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET and HEAD are supported\n".into(),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
    };
    match shared.handler.reply(request.uri().path()) {
        Reply::Page { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = page(status, body);
            if head_only {
                *response.body_mut() = empty();
            }
            response
        }
        Reply::Stream {
            content_type,
            produce,
        } => {
            let gzip = accepts_gzip(
                request
                    .headers()
                    .get(header::ACCEPT_ENCODING)
                    .and_then(|value| value.to_str().ok()),
            );
            let stream = Streamed {
                content_type,
                gzip,
                head_only,
            };
            stream.respond(produce, in_flight, shared).await
        }
    }
}

/// A bcrypt check, two at a time; one that cannot start within
/// [`AUTH_WAIT`] (a flood of guesses ahead of it) fails.
async fn check_password(users: Arc<Users>, header: Option<Vec<u8>>, shared: &Shared) -> Checked {
    let Ok(Ok(_permit)) = tokio::time::timeout(AUTH_WAIT, shared.auth_checks.acquire()).await
    else {
        return Checked::Busy;
    };
    match tokio::task::spawn_blocking(move || users.check(header.as_deref())).await {
        Ok(true) => Checked::Passed,
        _ => Checked::Failed,
    }
}

impl Shared {
    fn warn_auth_busy(&self) {
        let mut last = self
            .auth_busy_warned
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
            warning!("metrics: password checks are queued over {} s (a flood of wrong passwords?); new clients get 503 until it passes, clients checked before are not held up", AUTH_WAIT.as_secs());
            *last = Some(std::time::Instant::now());
        }
    }
}

struct Streamed {
    content_type: &'static str,
    gzip: bool,
    head_only: bool,
}

impl Streamed {
    async fn respond(
        self,
        produce: super::Producer,
        in_flight: InFlight,
        shared: &Arc<Shared>,
    ) -> Response<Body> {
        let mut builder = Response::builder()
            .header(header::CONTENT_TYPE, self.content_type)
            .header(header::VARY, "Accept-Encoding");
        if self.gzip {
            builder = builder.header(header::CONTENT_ENCODING, "gzip");
        }
        if self.head_only {
            return builder
                .body(empty())
                .unwrap_or_else(|_| Response::new(empty()));
        }
        let permit =
            match tokio::time::timeout(PRODUCER_WAIT, shared.producers.clone().acquire_owned())
                .await
            {
                Ok(Ok(permit)) => permit,
                _ => {
                    return page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "busy: too many scrapes at once; try again\n".into(),
                    )
                }
            };
        let (sender, mut receiver) = mpsc::channel(QUEUED_PIECES);
        let gzip = self.gzip;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _in_flight = in_flight;
            let mut writer = BodyWriter::new(sender, gzip);
            match produce(&mut writer) {
                Ok(()) => {
                    let _ = writer.finish();
                }
                Err(err) => writer.fail(err),
            }
        });
        let pieces = futures::StreamExt::map(
            futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)),
            |piece| piece.map(Frame::data),
        );
        builder
            .body(StreamBody::new(pieces).boxed())
            .unwrap_or_else(|_| Response::new(empty()))
    }
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A small complete answer; the index page is the only HTML one.
fn page(status: StatusCode, body: String) -> Response<Body> {
    let content_type = if body.starts_with('<') {
        "text/html; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
