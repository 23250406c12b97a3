//! The metrics endpoint's HTTP side: `GET /metrics` answers the registry in the OpenMetrics
//! text format when the client asks for it (Prometheus does), else in the classic Prometheus
//! text format (curl, `promtool check metrics`, older scrapers); anything else a short 404. One request per connection, on a single-threaded
//! tokio runtime of its own thread: a scrape never waits on the draining thread (the
//! metrics are atomics the registry reads).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The most of a request read: a scrape's head is a few hundred bytes.
const MAX_REQUEST: usize = 8192;
/// A client that sends nothing for this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// OpenMetrics text as the classic Prometheus text format: a counter family's HELP and TYPE
/// name its samples (`x_total`), and there are no UNIT or EOF lines. prometheus-client
/// writes OpenMetrics only; the two formats differ in no other way for the metrics served
/// here (counters without `_created`, gauges, histograms).
pub fn classic(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Runs until the process ends.
pub fn serve(listener: std::net::TcpListener, registry: Arc<Registry>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("monitor: error: the metrics endpoint cannot start: {e}");
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("monitor: error: the metrics endpoint cannot start: {e}");
                return;
            }
        };
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let registry = Arc::clone(&registry);
            tokio::spawn(async move {
                let _ = tokio::time::timeout(READ_TIMEOUT, answer(stream, &registry)).await;
            });
        }
    });
}

async fn answer(mut stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let (status, content_type, body) = match (method, path) {
        (Some(b"GET" | b"HEAD"), Some(b"/metrics")) => {
            let head = String::from_utf8_lossy(&request).to_ascii_lowercase();
            let openmetrics = head
                .lines()
                .any(|l| l.starts_with("accept:") && l.contains("application/openmetrics-text"));
            let mut body = String::new();
            match prometheus_client::encoding::text::encode(&mut body, registry) {
                Ok(()) if openmetrics => ("200 OK", OPENMETRICS, body),
                Ok(()) => ("200 OK", CLASSIC, classic(&body)),
                Err(_) => (
                    "500 Internal Server Error",
                    "text/plain",
                    "encoding failed\n".into(),
                ),
            }
        }
        (Some(b"GET" | b"HEAD"), Some(_)) => (
            "404 Not Found",
            "text/plain",
            "serial-trace monitor: the metrics are at /metrics\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET /metrics\n".into(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if method != Some(b"HEAD") {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_by_their_samples_in_the_classic_format() {
        let om = "# HELP st_events Events.\n# TYPE st_events counter\nst_events_total{kind=\"a\"} 3\n\
                  # HELP st_window_bytes Bytes.\n# TYPE st_window_bytes gauge\n# UNIT st_window_bytes bytes\n\
                  st_window_bytes 7\n# EOF\n";
        assert_eq!(
            classic(om),
            "# HELP st_events_total Events.\n# TYPE st_events_total counter\nst_events_total{kind=\"a\"} 3\n\
             # HELP st_window_bytes Bytes.\n# TYPE st_window_bytes gauge\nst_window_bytes 7\n"
        );
    }
}
