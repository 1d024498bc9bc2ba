//! Progress a person can follow: on a terminal an indicatif bar (steps done, elapsed, an
//! estimate of what is left, the current step); otherwise plain timestamped lines, with a
//! "still running" line every 15 s of a long step. Finished measurements print their headline
//! figure either way.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    /// Estimated seconds of every step, and how many are done.
    estimates: Vec<u64>,
    done: usize,
    step_started: Instant,
    last_note: Instant,
}

impl Progress {
    pub fn new(estimates: Vec<u64>) -> Progress {
        let total: u64 = estimates.iter().sum();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:30}] ~{eta} left  {msg}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            estimates,
            done: 0,
            step_started: Instant::now(),
            last_note: Instant::now(),
        }
    }

    fn elapsed(&self) -> String {
        clock(self.started.elapsed().as_secs())
    }

    fn left(&self) -> u64 {
        let rest: u64 = self.estimates.iter().skip(self.done).sum();
        rest.saturating_sub(self.step_started.elapsed().as_secs())
    }

    /// A step begins.
    pub fn step(&mut self, name: &str) {
        self.step_started = Instant::now();
        self.last_note = Instant::now();
        let n = self.estimates.len();
        let line = format!("[step {}/{n}] {name}", self.done + 1);
        match &self.bar {
            Some(bar) => bar.set_message(line),
            None => eprintln!("[{} | ~{} left] {line}", self.elapsed(), clock(self.left())),
        }
    }

    /// The current step ended (whatever its outcome).
    pub fn step_done(&mut self) {
        self.done = (self.done + 1).min(self.estimates.len());
        if let Some(bar) = &self.bar {
            let position: u64 = self.estimates.iter().take(self.done).sum();
            bar.set_position(position);
        }
    }

    /// While a step runs: moves the bar within the step's estimate; without a terminal, says
    /// every 15 s that the step is still running.
    pub fn tick(&mut self, what: &str) {
        let in_step = self.step_started.elapsed().as_secs();
        let estimate = self.estimates.get(self.done).copied().unwrap_or(0);
        match &self.bar {
            Some(bar) => {
                let before: u64 = self.estimates.iter().take(self.done).sum();
                bar.set_position(before + in_step.min(estimate));
            }
            None if self.last_note.elapsed() >= Duration::from_secs(15) => {
                self.last_note = Instant::now();
                eprintln!(
                    "[{}]   … {what}: {in_step}s of ~{estimate}s",
                    self.elapsed()
                );
            }
            None => {}
        }
    }

    /// A line that stays: a finished measurement's headline figure, a warning.
    pub fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("[{}] {line}", self.elapsed())),
            None => eprintln!("[{}] {line}", self.elapsed()),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    pub fn total_elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// `m:ss`.
pub fn clock(seconds: u64) -> String {
    format!("{}m{:02}s", seconds / 60, seconds % 60)
}
