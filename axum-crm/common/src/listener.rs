//! Accepting connections: HTTP/1.1 on hyper's connection builder with the limits a request
//! head must keep (how long it may take, how large it may be), until [`crate::shutdown`] says
//! stop, then a graceful drain. Both listeners of a service, the API's and the metrics', serve
//! through [`serve_with`].

use std::time::Duration;

use axum::Router;

use crate::shutdown::shutdown_signal;

/// The default `HEADER_READ_TIMEOUT_MS` (`config::ServerConfig`'s). Service-to-service clients
/// keep idle connections for less than this (see `upstream::client`), so they never reuse one
/// the server is closing.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration =
    Duration::from_millis(DEFAULT_HEADER_READ_TIMEOUT_MS);

/// The largest request head (request line, URL and headers) a connection may send; past it
/// hyper answers a bare `431` and closes, before any handler runs. The same 64 KiB as a body.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serves until SIGTERM or SIGINT, then stops accepting and lets in-flight requests finish.
/// Like `axum::serve` (one task per connection, HTTP/1.1, graceful shutdown), but on hyper's
/// connection builder directly, because `axum::serve` sets no timer: there a client that sends
/// its head one byte at a time, or never, holds its connection (and a file descriptor) for ever.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    header_read_timeout: Duration,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_header_size(MAX_HEAD_BYTES);
    let graceful = GracefulShutdown::new();
    let mut signal = std::pin::pin!(shutdown_signal());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: keep serving the connections we have.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // A header timeout, a malformed request (hyper answered 400/431), a reset.
                tracing::debug!(%peer, %error, "connection ended");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    /// Reads until the server closes the connection; what it sent, and when it closed.
    async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> (Vec<u8>, Duration) {
        use tokio::io::AsyncReadExt;
        let started = std::time::Instant::now();
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return (received, started.elapsed()),
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    }

    #[tokio::test]
    async fn slow_heads_are_cut_off_and_oversized_heads_refused() {
        use tokio::io::AsyncWriteExt;
        use tokio::net::{TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/healthz", get(|| async { "ok" }));
        tokio::spawn(serve_with(listener, app, Duration::from_millis(500)));

        // A head that never ends, dribbled a byte at a time: closed after the timeout, however
        // often bytes arrive.
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        let dribble = async {
            for _ in 0..40 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if slow.write_all(b"x").await.is_err() {
                    break;
                }
            }
        };
        let mut watcher = TcpStream::connect(addr).await.unwrap();
        watcher
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        let (_, (silent, closed_after)) = tokio::join!(dribble, read_until_closed(&mut watcher));
        assert!(silent.is_empty(), "no answer to an unfinished head");
        assert!(
            closed_after >= Duration::from_millis(400) && closed_after < Duration::from_secs(3),
            "closed after {closed_after:?}"
        );
        let (_, slow_closed_after) = read_until_closed(&mut slow).await;
        assert!(slow_closed_after < Duration::from_secs(3));

        // A head over MAX_HEAD_BYTES: a bare 431, then the connection closes.
        let mut big = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
            "a".repeat(MAX_HEAD_BYTES)
        );
        let _ = big.write_all(head.as_bytes()).await;
        let (answer, _) = read_until_closed(&mut big).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 431"),
            "{}",
            String::from_utf8_lossy(&answer)
        );

        // Meanwhile ordinary requests are served.
        let mut ok = TcpStream::connect(addr).await.unwrap();
        ok.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let (answer, _) = read_until_closed(&mut ok).await;
        assert!(answer.starts_with(b"HTTP/1.1 200"));
    }
}
