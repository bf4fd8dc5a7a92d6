//! Pull progress: bars on a terminal (indicatif), plain lines otherwise, nothing with -q.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use husk_image::pull::{Event, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// What a layer's lines say: (starting, done, already there).
pub type Verbs = (&'static str, &'static str, &'static str);
pub const PULL: Verbs = ("Downloading", "Pull complete", "Already exists");
pub const PUSH: Verbs = ("Pushing", "Pushed", "Layer already exists");

pub struct Reporter {
    kind: Kind,
    verbs: Verbs,
}

enum Kind {
    Quiet,
    Lines(Mutex<()>),
    Bars {
        multi: MultiProgress,
        bars: Mutex<HashMap<String, ProgressBar>>,
    },
}

impl Reporter {
    pub fn new(quiet: bool, verbs: Verbs) -> Self {
        let kind = if quiet {
            Kind::Quiet
        } else if std::io::stderr().is_terminal() {
            Kind::Bars {
                multi: MultiProgress::new(),
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Kind::Lines(Mutex::new(()))
        };
        Self { kind, verbs }
    }

    /// A line above the bars (or on stderr).
    pub fn line(&self, text: &str) {
        match &self.kind {
            Kind::Quiet => {}
            Kind::Lines(lock) => {
                let _g = lock.lock();
                eprintln!("{text}");
            }
            Kind::Bars { multi, .. } => {
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
        let (start, done_verb, cached_verb) = self.verbs;
        match (&self.kind, e) {
            (Kind::Quiet, _) => {}
            (Kind::Lines(_), Event::LayerStart { digest, size }) => {
                self.line(&format!(
                    "{}: {start} ({})",
                    short(digest),
                    crate::format::size(size)
                ));
            }
            (Kind::Lines(_), Event::LayerDone { digest, cached }) => {
                let what = if cached { cached_verb } else { done_verb };
                self.line(&format!("{}: {what}", short(digest)));
            }
            (Kind::Lines(_), _) => {}
            (Kind::Bars { multi, bars }, Event::LayerStart { digest, size }) => {
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
            (Kind::Bars { bars, .. }, Event::LayerBytes { digest, done }) => {
                if let Some(b) = bars
                    .lock()
                    .ok()
                    .and_then(|b| b.get(&digest.to_string()).cloned())
                {
                    b.set_position(done);
                }
            }
            (Kind::Bars { bars, .. }, Event::LayerDone { digest, cached }) => {
                let bar = bars
                    .lock()
                    .ok()
                    .and_then(|mut b| b.remove(&digest.to_string()));
                let what = if cached { cached_verb } else { done_verb };
                match bar {
                    Some(b) => b.finish_with_message(what),
                    None => self.line(&format!("{}: {what}", short(digest))),
                }
            }
            (Kind::Bars { .. }, Event::Resolved { .. }) => {}
        }
    }
}
