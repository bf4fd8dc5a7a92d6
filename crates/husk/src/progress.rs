//! Pull progress: bars on a terminal (indicatif), plain lines otherwise, nothing with -q.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use husk_image::pull::{Event, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub enum Reporter {
    Quiet,
    Lines(Mutex<()>),
    Bars {
        multi: MultiProgress,
        bars: Mutex<HashMap<String, ProgressBar>>,
    },
}

impl Reporter {
    pub fn new(quiet: bool) -> Self {
        if quiet {
            Self::Quiet
        } else if std::io::stderr().is_terminal() {
            Self::Bars {
                multi: MultiProgress::new(),
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Self::Lines(Mutex::new(()))
        }
    }

    /// A line above the bars (or on stderr).
    pub fn line(&self, text: &str) {
        match self {
            Self::Quiet => {}
            Self::Lines(lock) => {
                let _g = lock.lock();
                eprintln!("{text}");
            }
            Self::Bars { multi, .. } => {
                let _ = multi.println(text);
            }
        }
    }
}

fn short(d: &husk_image::Digest) -> &str {
    d.short()
}

impl Progress for Reporter {
    fn event(&self, e: Event<'_>) {
        match (self, e) {
            (Self::Quiet, _) => {}
            (Self::Lines(_), Event::LayerStart { digest, size }) => {
                self.line(&format!(
                    "{}: Downloading ({})",
                    short(digest),
                    crate::format::size(size)
                ));
            }
            (Self::Lines(_), Event::LayerDone { digest, cached }) => {
                let what = if cached {
                    "Already exists"
                } else {
                    "Pull complete"
                };
                self.line(&format!("{}: {what}", short(digest)));
            }
            (Self::Lines(_), _) => {}
            (Self::Bars { multi, bars }, Event::LayerStart { digest, size }) => {
                let bar = multi.add(ProgressBar::new(size));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix}: {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_prefix(short(digest).to_owned());
                if let Ok(mut b) = bars.lock() {
                    b.insert(digest.to_string(), bar);
                }
            }
            (Self::Bars { bars, .. }, Event::LayerBytes { digest, done }) => {
                if let Some(b) = bars
                    .lock()
                    .ok()
                    .and_then(|b| b.get(&digest.to_string()).cloned())
                {
                    b.set_position(done);
                }
            }
            (Self::Bars { bars, .. }, Event::LayerDone { digest, cached }) => {
                let bar = bars
                    .lock()
                    .ok()
                    .and_then(|mut b| b.remove(&digest.to_string()));
                let what = if cached {
                    "Already exists"
                } else {
                    "Pull complete"
                };
                match bar {
                    Some(b) => b.finish_with_message(what),
                    None => self.line(&format!("{}: {what}", short(digest))),
                }
            }
            (Self::Bars { .. }, Event::Resolved { .. }) => {}
        }
    }
}
