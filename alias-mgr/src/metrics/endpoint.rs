//! What the web server answers: `/metrics` (a scrape, encoded family by
//! family into the streamed body), `/` (a pointer to it), 404 elsewhere.

use std::{
    io::{self, Write},
    sync::{Arc, Mutex},
};

use prometheus::TextEncoder;

use super::{
    collector::Exporter,
    scrape::{Piece, Scrape},
};
use crate::{
    sys::memory::release_free_memory,
    web::{BodyWriter, Handler, Reply},
};

/// The text exposition format (what `promtool check metrics` and every
/// Prometheus version read). Prometheus asks for OpenMetrics first and
/// takes this when it is what comes back.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const INDEX_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>alias-mgr</title></head>\n\
<body><h1>alias-mgr</h1>\n<p>Per-alias traffic counters, firewall zone counters and drift \
healing, for Prometheus.</p>\n<p><a href=\"/metrics\">Metrics</a></p>\n</body></html>\n";

pub struct MetricsEndpoint {
    exporter: Arc<Exporter>,
    /// One scrape reads the sources at a time: a second one waiting gets
    /// fresh readings instead of doubling the memory a scrape takes.
    reading: Arc<Mutex<()>>,
}

impl MetricsEndpoint {
    pub fn new(exporter: Arc<Exporter>) -> Arc<Self> {
        Arc::new(Self {
            exporter,
            reading: Arc::new(Mutex::new(())),
        })
    }
}

impl Handler for MetricsEndpoint {
    fn reply(&self, path: &str) -> Reply {
        match path {
            "/metrics" => {
                let (exporter, reading) = (self.exporter.clone(), self.reading.clone());
                Reply::Stream {
                    content_type: CONTENT_TYPE,
                    produce: Box::new(move |out| {
                        let scrape = {
                            let _one = reading.lock().unwrap_or_else(|p| p.into_inner());
                            exporter.scrape()
                        };
                        let written = write_families(out, &scrape);
                        drop(scrape);
                        release_free_memory();
                        written
                    }),
                }
            }
            "/" => Reply::Page {
                status: 200,
                body: INDEX_PAGE.into(),
            },
            _ => Reply::Page {
                status: 404,
                body: "not found; metrics are at /metrics\n".into(),
            },
        }
    }
}

/// Encodes the families piece by piece, so the samples and text of only
/// one piece are in memory.
fn write_families(out: &mut BodyWriter, scrape: &Scrape) -> io::Result<()> {
    let encoder = TextEncoder::new();
    let mut text = String::with_capacity(64 * 1024);
    for piece in scrape.pieces() {
        text.clear();
        match &piece {
            Piece::Whole(family) => {
                if let Err(err) = encoder.encode_utf8(std::slice::from_ref(family), &mut text) {
                    // Cannot happen with the families built here; say so in
                    // the text rather than cut the whole response.
                    text = format!("# alias-mgr: could not encode {}: {err}\n", family.name());
                }
            }
            Piece::Addresses { .. } => scrape.write_piece(&piece, &mut text),
        }
        drop(piece);
        out.write_all(text.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{io::Read as _, time::Duration};

    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::{TcpListener, TcpStream},
    };

    use super::*;
    use crate::core::fixtures::ip;
    use crate::metrics::fixtures::{counters, exporter};
    use crate::web::{serve, WebSettings};

    async fn get(addr: std::net::SocketAddr, request: &str) -> Vec<u8> {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.unwrap();
        out
    }

    async fn get_text(addr: std::net::SocketAddr, request: &str) -> String {
        String::from_utf8_lossy(&get(addr, request).await).into_owned()
    }

    /// The body of a chunked response.
    fn dechunk(response: &[u8]) -> Vec<u8> {
        let start = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut rest = &response[start..];
        let mut body = Vec::new();
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
            if size == 0 {
                return body;
            }
            body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest = &rest[line_end + 2 + size + 2..];
        }
    }

    #[test]
    fn families_sent_in_pieces_read_as_one_family_each() {
        let many: Vec<_> = (0..1234u32)
            .map(|i| {
                (
                    std::net::IpAddr::from([10, 0, (i / 250) as u8, (i % 250) as u8]),
                    // Up to 2^51: values f64 still holds exactly.
                    counters(u64::from(i) << 40),
                )
            })
            .collect();
        let exporter = exporter(Some(many));
        let scrape = exporter.scrape();
        let (sender, mut receiver) = tokio::sync::mpsc::channel(1024);
        let mut writer = crate::web::BodyWriter::for_tests(sender);
        write_families(&mut writer, &scrape).unwrap();
        writer.finish().unwrap();
        let mut text = String::new();
        while let Ok(piece) = receiver.try_recv() {
            text.push_str(std::str::from_utf8(&piece.unwrap()).unwrap());
        }
        // Compared without printing 5,000 lines on failure.
        let whole = scrape.to_text().unwrap();
        assert!(
            text == whole,
            "pieces differ from the whole text at byte {:?}",
            text.bytes().zip(whole.bytes()).position(|(a, b)| a != b)
        );
        let name = "alias_mgr_receive_packets_total";
        assert_eq!(text.matches(&format!("# TYPE {name} counter")).count(), 1);
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with(&format!("{name}{{")))
                .count(),
            1234
        );
    }

    #[tokio::test]
    async fn the_server_answers_metrics_gzip_index_404_405_and_bad_requests() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let exporter = Arc::new(exporter(Some(vec![(ip("192.0.2.1"), counters(5))])));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            Arc::new(WebSettings::plain()),
            MetricsEndpoint::new(exporter),
            async {
                let _ = stopped.await;
            },
        ));
        let close = "Host: x\r\nConnection: close\r\n";

        let metrics = get_text(addr, &format!("GET /metrics HTTP/1.1\r\n{close}\r\n")).await;
        assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
        assert!(
            metrics.contains("content-type: text/plain; version=0.0.4"),
            "{metrics}"
        );
        let sample = r#"alias_mgr_receive_packets_total{device="eth1",address="192.0.2.1",label="eth1:0",zone="lab"} 5"#;
        assert!(metrics.contains(sample), "{metrics}");

        let zipped = get(
            addr,
            &format!("GET /metrics HTTP/1.1\r\n{close}Accept-Encoding: gzip\r\n\r\n"),
        )
        .await;
        let head = String::from_utf8_lossy(&zipped[..zipped.len().min(400)]).into_owned();
        assert!(head.contains("content-encoding: gzip"), "{head}");
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&dechunk(&zipped)[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        assert!(unzipped.contains(sample), "{unzipped}");

        let head = get_text(addr, &format!("HEAD /metrics HTTP/1.1\r\n{close}\r\n")).await;
        assert!(
            head.starts_with("HTTP/1.1 200 OK\r\n") && !head.contains("alias_mgr"),
            "{head}"
        );
        let index = get_text(addr, &format!("GET / HTTP/1.1\r\n{close}\r\n")).await;
        assert!(
            index.contains("href=\"/metrics\"") && index.contains("text/html"),
            "{index}"
        );
        let missing = get_text(addr, &format!("GET /nope HTTP/1.1\r\n{close}\r\n")).await;
        assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
        let post = get_text(
            addr,
            &format!("POST /metrics HTTP/1.1\r\n{close}Content-Length: 0\r\n\r\n"),
        )
        .await;
        assert!(
            post.starts_with("HTTP/1.1 405 ") && post.contains("allow: GET, HEAD"),
            "{post}"
        );
        let garbage = get_text(addr, "\x16\x03\x01 hello\r\n\r\n").await;
        assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
        let huge = get_text(addr, &format!("GET /{} HTTP/1.1\r\n", "a".repeat(40_000))).await;
        assert!(
            huge.starts_with("HTTP/1.1 431 "),
            "{}",
            &huge[..40.min(huge.len())]
        );
        // A client that connects and leaves does not stop the server.
        drop(TcpStream::connect(addr).await.unwrap());
        let again = get_text(addr, "GET /metrics HTTP/1.0\r\n\r\n").await;
        assert!(
            again.starts_with("HTTP/1.1 200 OK") || again.starts_with("HTTP/1.0 200 OK"),
            "{again}"
        );

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
    }
}
