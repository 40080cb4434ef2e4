//! The `/metrics` HTTP endpoint: a small hand-written HTTP/1.1 responder
//! (one request per connection, `Connection: close`) that streams a scrape
//! family by family.

use std::{fmt::Write as _, future::Future, io, sync::Arc, time::Duration};

use prometheus::TextEncoder;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};

use super::{collector::Exporter, scrape::Scrape};
use crate::{
    logging::{log, Level},
    sys::memory::release_free_memory,
};

/// The text exposition format (what `promtool check metrics` and every
/// Prometheus version read).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long sending a response may take (a scrape of 10,000 addresses is a
/// few MB).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Larger request heads are refused (Prometheus sends about 300 bytes).
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 32;
/// The text is written in pieces of about this size.
const WRITE_CHUNK: usize = 64 * 1024;

const INDEX_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>alias-mgr</title></head>\n\
<body><h1>alias-mgr</h1>\n<p>Per-alias traffic counters, firewall zone counters and drift \
healing, for Prometheus.</p>\n<p><a href=\"/metrics\">Metrics</a></p>\n</body></html>\n";

/// Serves `GET /metrics` (and `/`, a pointer to it) on `listener` until
/// `shutdown` completes. A minimal HTTP/1.1 responder: one request per
/// connection, answered with `Connection: close`.
pub async fn serve(
    listener: TcpListener,
    exporter: Arc<Exporter>,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // One scrape at a time keeps the memory a scrape needs bounded.
    let scrapes = Arc::new(Semaphore::new(1));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // EMFILE and friends: back off instead of spinning.
                    log(Level::Warning, format_args!("metrics: accepting a connection: {err}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let exporter = exporter.clone();
        let scrapes = scrapes.clone();
        tokio::spawn(async move {
            let _permit = permit;
            // A client that hangs up early is its own problem.
            let _ = handle(stream, &exporter, &scrapes).await;
        });
    }
}

/// A parsed request line.
#[derive(Debug, PartialEq, Eq)]
struct Request<'a> {
    method: &'a str,
    path: &'a str,
}

/// The request line of a complete request head, or None if malformed.
fn parse_request(head: &str) -> Option<Request<'_>> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    // Prometheus may add parameters; the path is what matters.
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Some(Request { method, path })
}

async fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(Some(head));
        }
        if head.len() > MAX_REQUEST_HEAD {
            return Ok(Some(Vec::new()));
        }
    }
}

fn response_head(status: &str, content_type: &str, extra: &str) -> String {
    format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nConnection: close\r\n{extra}\r\n")
}

/// A complete small response. The bodies are this module's constants; the
/// index page is the only HTML one.
async fn simple(
    stream: &mut TcpStream,
    status: &str,
    extra: &str,
    body: &str,
    head_only: bool,
) -> io::Result<()> {
    let mut out = response_head(
        status,
        if body.starts_with('<') {
            "text/html; charset=utf-8"
        } else {
            "text/plain; charset=utf-8"
        },
        &format!("Content-Length: {}\r\n{extra}", body.len()),
    );
    if !head_only {
        out.push_str(body);
    }
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}

async fn handle(
    mut stream: TcpStream,
    exporter: &Arc<Exporter>,
    scrapes: &Semaphore,
) -> io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) | Ok(Err(_)) => return Ok(()),
        Err(_) => {
            return simple(
                &mut stream,
                "408 Request Timeout",
                "",
                "request timeout\n",
                false,
            )
            .await
        }
    };
    let text = String::from_utf8_lossy(&head);
    let Some(request) = parse_request(&text) else {
        return simple(&mut stream, "400 Bad Request", "", "bad request\n", false).await;
    };
    let head_only = request.method == "HEAD";
    if request.method != "GET" && !head_only {
        return simple(
            &mut stream,
            "405 Method Not Allowed",
            "Allow: GET, HEAD\r\n",
            "only GET and HEAD are supported\n",
            false,
        )
        .await;
    }
    match request.path {
        "/metrics" => send_metrics(stream, exporter, scrapes, head_only).await,
        "/" => simple(&mut stream, "200 OK", "", INDEX_PAGE, head_only).await,
        _ => {
            simple(
                &mut stream,
                "404 Not Found",
                "",
                "not found; metrics are at /metrics\n",
                head_only,
            )
            .await
        }
    }
}

/// Answers `/metrics`: one scrape at a time, off the runtime's threads, then
/// the memory it took is handed back.
async fn send_metrics(
    mut stream: TcpStream,
    exporter: &Arc<Exporter>,
    scrapes: &Semaphore,
    head_only: bool,
) -> io::Result<()> {
    let _one_at_a_time = scrapes.acquire().await;
    let source = exporter.clone();
    let scrape = match tokio::task::spawn_blocking(move || source.scrape()).await {
        Ok(scrape) => scrape,
        Err(err) => {
            log(Level::Error, format_args!("metrics: scrape failed: {err}"));
            return simple(
                &mut stream,
                "500 Internal Server Error",
                "",
                "scrape failed\n",
                false,
            )
            .await;
        }
    };
    let sent = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream
            .write_all(response_head("200 OK", CONTENT_TYPE, "").as_bytes())
            .await?;
        if !head_only {
            write_families(&mut stream, &scrape).await?;
        }
        stream.shutdown().await
    })
    .await
    .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()));
    drop(scrape);
    release_free_memory();
    sent
}

/// Encodes and sends the families one by one (see the module docs).
async fn write_families(stream: &mut TcpStream, scrape: &Scrape) -> io::Result<()> {
    let encoder = TextEncoder::new();
    let mut text = String::with_capacity(WRITE_CHUNK + 4096);
    for family in scrape.families() {
        if let Err(err) = encoder.encode_utf8(std::slice::from_ref(&family), &mut text) {
            // Cannot happen with the families built here; skip rather than
            // cut the whole response.
            let _ = writeln!(
                text,
                "# alias-mgr: could not encode {}: {err}",
                family.name()
            );
        }
        drop(family);
        if text.len() >= WRITE_CHUNK {
            stream.write_all(text.as_bytes()).await?;
            text.clear();
        }
    }
    stream.write_all(text.as_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::ip;
    use crate::metrics::fixtures::{counters, exporter};

    #[test]
    fn request_lines_parse() {
        assert_eq!(
            parse_request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(Request {
                method: "GET",
                path: "/metrics"
            })
        );
        assert_eq!(
            parse_request("GET /metrics?x=1 HTTP/1.0\r\n\r\n").map(|r| r.path),
            Some("/metrics")
        );
        assert_eq!(parse_request("GET /metrics\r\n\r\n"), None);
        assert_eq!(parse_request("\u{0}\u{1}garbage\r\n\r\n"), None);
        assert_eq!(parse_request("GET / SPDY/3\r\n\r\n"), None);
    }

    async fn get(addr: std::net::SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn the_server_answers_metrics_index_404_405_and_400() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let exporter = Arc::new(exporter(Some(vec![(ip("192.0.2.1"), counters(5))])));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, exporter, async {
            let _ = stopped.await;
        }));

        let metrics = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
        assert!(
            metrics.contains("Content-Type: text/plain; version=0.0.4"),
            "{metrics}"
        );
        assert!(metrics.contains(
            r#"alias_mgr_receive_packets_total{device="eth1",address="192.0.2.1",label="eth1:0",zone="lab"} 5"#
        ));
        let head = get(addr, "HEAD /metrics HTTP/1.1\r\n\r\n").await;
        assert!(
            head.starts_with("HTTP/1.1 200 OK\r\n") && !head.contains("alias_mgr"),
            "{head}"
        );
        let index = get(addr, "GET / HTTP/1.1\r\n\r\n").await;
        assert!(
            index.starts_with("HTTP/1.1 200 OK") && index.contains("href=\"/metrics\""),
            "{index}"
        );
        let missing = get(addr, "GET /nope HTTP/1.1\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
        let post = get(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await;
        assert!(
            post.starts_with("HTTP/1.1 405 ") && post.contains("Allow: GET, HEAD"),
            "{post}"
        );
        let garbage = get(addr, "\x16\x03\x01 hello\r\n\r\n").await;
        assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
        let huge = get(addr, &format!("GET /{} HTTP/1.1\r\n", "a".repeat(40_000))).await;
        assert!(
            huge.starts_with("HTTP/1.1 400 "),
            "{}",
            &huge[..40.min(huge.len())]
        );
        // A client that connects and leaves does not stop the server.
        drop(TcpStream::connect(addr).await.unwrap());
        let again = get(addr, "GET /metrics HTTP/1.0\r\n\r\n").await;
        assert!(again.starts_with("HTTP/1.1 200 OK"));

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
    }
}
