//! A streamed response body: written by a blocking producer in pieces,
//! gzip-compressed on the way when the client accepts it (flate2, the only
//! importer), sent over a short channel so a slow reader holds back the
//! producer instead of piling up memory.

use std::io::{self, Write};

use bytes::Bytes;
use flate2::{write::GzEncoder, Compression};
use tokio::sync::mpsc;

/// Pieces of about this size are sent.
const PIECE: usize = 64 * 1024;
/// Pieces waiting for the client at most.
pub const QUEUED_PIECES: usize = 4;

/// Where pieces go: the connection's body.
struct Pieces {
    sender: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl Pieces {
    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(PIECE),
        ));
        // Blocking: the producer runs on a blocking thread. An error means
        // the client went away (or was dropped for stalling).
        self.sender
            .blocking_send(Ok(piece))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for Pieces {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= PIECE {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// What a producer writes the body into.
pub struct BodyWriter {
    out: Output,
}

enum Output {
    Plain(Pieces),
    Gzip(GzEncoder<Pieces>),
}

impl BodyWriter {
    pub(super) fn new(sender: mpsc::Sender<io::Result<Bytes>>, gzip: bool) -> Self {
        let pieces = Pieces {
            sender,
            buffer: Vec::with_capacity(PIECE),
        };
        let out = match gzip {
            // Level 1: most of the size gain (text with repeated label
            // names compresses about 10x) for a fraction of the CPU.
            true => Output::Gzip(GzEncoder::new(pieces, Compression::fast())),
            false => Output::Plain(pieces),
        };
        Self { out }
    }

    /// A plain writer whose `finish` is its drop (unit tests elsewhere).
    #[cfg(test)]
    pub fn for_tests(sender: mpsc::Sender<io::Result<Bytes>>) -> Self {
        Self::new(sender, false)
    }

    /// Ends the body (the gzip trailer) and sends what is left.
    pub fn finish(self) -> io::Result<()> {
        match self.out {
            Output::Plain(mut pieces) => pieces.send(),
            Output::Gzip(encoder) => encoder.finish()?.send(),
        }
    }

    /// Ends the body with an error: the client sees the connection cut, not
    /// a body that merely looks short.
    pub(super) fn fail(self, err: io::Error) {
        let sender = match self.out {
            Output::Plain(pieces) => pieces.sender,
            Output::Gzip(encoder) => encoder.get_ref().sender.clone(),
        };
        let _ = sender.blocking_send(Err(err));
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Output::Plain(pieces) => pieces.write(data),
            Output::Gzip(encoder) => encoder.write(data),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether an Accept-Encoding header lets the answer be gzip (RFC 9110
/// 12.5.3: `gzip` or `*` with a non-zero q-value).
pub fn accepts_gzip(header: Option<&str>) -> bool {
    let Some(header) = header else {
        return false;
    };
    let mut gzip = None;
    let mut star = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .filter_map(|q| q.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    gzip.or(star).is_some_and(|q| q > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn accept_encoding_is_read_with_q_values() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(accepts_gzip(Some("GZIP")));
        assert!(!accepts_gzip(None));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("*;q=0.5, gzip;q=0")));
        assert!(!accepts_gzip(Some("br")));
    }

    fn collect(gzip: bool, text: &str) -> Vec<u8> {
        let (sender, mut receiver) = mpsc::channel(1024);
        let mut writer = BodyWriter::new(sender, gzip);
        for line in text.lines() {
            writeln!(writer, "{line}").unwrap();
        }
        writer.finish().unwrap();
        let mut out = Vec::new();
        while let Ok(piece) = receiver.try_recv() {
            out.extend_from_slice(&piece.unwrap());
        }
        out
    }

    #[test]
    fn bodies_arrive_whole_plain_or_gzipped() {
        let text: String = (0..20_000)
            .map(|i| format!("alias_mgr_receive_bytes_total{{address=\"10.0.{i}.1\"}} {i}\n"))
            .collect();
        assert_eq!(collect(false, &text), text.as_bytes());
        let zipped = collect(true, &text);
        assert!(
            zipped.len() < text.len() / 4,
            "{} of {}",
            zipped.len(),
            text.len()
        );
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&zipped[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, text);
    }

    #[test]
    fn a_client_gone_stops_the_producer() {
        let (sender, receiver) = mpsc::channel(1);
        drop(receiver);
        let mut writer = BodyWriter::new(sender, false);
        let err = writer.write_all(&vec![b'x'; 2 * PIECE]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
