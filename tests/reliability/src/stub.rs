//! A stand-in customer-service that answers `200` with a customer, after a delay chosen per
//! request: the "slow upstream" of the fault tests, and the way the shutdown test keeps
//! requests in flight inside order-service. One request per connection (`connection: close`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// The delay for a request, given its path.
pub type DelayFn = Arc<dyn Fn(&str) -> Duration + Send + Sync>;

pub struct Stub {
    /// Requests whose head was read (the caller is waiting for the answer).
    pub hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Stub {
    /// Listens on 127.0.0.1:`port` (0: any).
    pub async fn start(port: u16, delay: DelayFn) -> (Stub, u16) {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("stub cannot listen on port {port}: {e}"));
        let port = listener.local_addr().expect("stub address").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            // Dropping this set (when the stub is dropped) aborts every open exchange.
            let mut connections = JoinSet::new();
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let delay = delay.clone();
                let counter = counter.clone();
                connections.spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
                        match tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf)).await {
                            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                            _ => return,
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let text = String::from_utf8_lossy(&head);
                    let path = text.split(' ').nth(1).unwrap_or("/").to_string();
                    tokio::time::sleep(delay(&path)).await;
                    let id: i64 = path.rsplit('/').next().and_then(|s| s.parse().ok()).unwrap_or(1);
                    let body = format!(
                        "{{\"id\":{id},\"name\":\"Stub\",\"email\":\"stub@example.com\",\"phone\":null,\
                         \"created_at\":\"2026-01-01T00:00:00.000000Z\",\
                         \"updated_at\":\"2026-01-01T00:00:00.000000Z\"}}"
                    );
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                         x-crm-runtime: axum\r\nx-crm-service: customer-service\r\n\
                         connection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
                // Reap finished exchanges so the set does not grow without bound.
                while connections.try_join_next().is_some() {}
            }
        });
        (Stub { hits, task }, port)
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}
