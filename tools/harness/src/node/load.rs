//! A short closed-loop load: `concurrency` workers each sending `GET url` again as soon as the
//! last answer came, for `duration`, on kept-alive connections. Enough to hold a service busy
//! while its memory is read and to compare two builds of one binary; the benchmark's own load
//! is k6 (crm-bench run).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a load got back.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadFigures {
    pub requests: u64,
    pub ok: u64,
    pub seconds: f64,
}

impl LoadFigures {
    /// 200s per second.
    pub fn ok_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.ok as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Runs the load; `during` is called every 200 ms while it runs (memory sampling).
pub async fn run(
    url: &str,
    concurrency: usize,
    duration: Duration,
    mut during: impl FnMut(),
) -> LoadFigures {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client");
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url) = (client.clone(), url.to_string());
            let (stop, requests, ok) = (stop.clone(), requests.clone(), ok.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let answer = client.get(&url).send().await;
                    requests.fetch_add(1, Ordering::Relaxed);
                    match answer {
                        Ok(r) if r.status().as_u16() == 200 => {
                            let _ = r.bytes().await;
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => {
                            let _ = r.bytes().await;
                        }
                        // A refused connection must not spin the worker.
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            })
        })
        .collect();
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_millis(200)).await;
        during();
    }
    stop.store(true, Ordering::Relaxed);
    let seconds = started.elapsed().as_secs_f64();
    for w in workers {
        let _ = w.await;
    }
    LoadFigures {
        requests: requests.load(Ordering::Relaxed),
        ok: ok.load(Ordering::Relaxed),
        seconds,
    }
}
