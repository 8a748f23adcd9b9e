//! Progress on stderr for long commands: a bar (or a spinner where the work has no known size)
//! drawn only when stderr is a terminal and `--quiet` was not given; nothing when piped.

use std::borrow::Cow;
use std::io::{self, IsTerminal};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use inframed::store::StoreDescription;
use inframed::{Catalog, Pid, Sid, SignalStore, Warning};

/// `--quiet`: no progress, no warnings.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Sets `--quiet` for the whole run.
pub(crate) fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `--quiet` was given.
pub(crate) fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Whether progress may be drawn: stderr is a terminal and not `--quiet`.
pub(crate) fn enabled() -> bool {
    !quiet() && io::stderr().is_terminal()
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A bar of `len` steps with `what` as its message, or `None` when progress is off.
pub(crate) fn bar(len: u64, what: &str) -> Option<ProgressBar> {
    if !enabled() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(style(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} (eta {eta})",
    ));
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}

/// A `progress(done, total)` callback for the library's `*_with`/`_with_progress` calls that
/// moves `bar` (if any) to `done` of `total`.
pub(crate) fn reporter(bar: &Option<ProgressBar>) -> impl FnMut(u64, u64) + '_ {
    move |done, total| {
        if let Some(b) = bar {
            b.set_length(total);
            b.set_position(done);
        }
    }
}

/// Clears a bar or spinner (if any) from the terminal.
pub(crate) fn finish(bar: Option<ProgressBar>) {
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

/// Runs `write` over `store`, through a [`Counted`] store drawing a bar labelled `what` when
/// progress is on; the bar is cleared whatever `write` returns.
pub(crate) fn counting<T>(
    store: &dyn SignalStore,
    what: &str,
    write: impl FnOnce(&dyn SignalStore) -> T,
) -> T {
    match bar(0, what) {
        Some(b) => {
            let result = write(&Counted::new(store, b.clone()));
            b.finish_and_clear();
            result
        }
        None => write(store),
    }
}

/// A store that advances a bar by one step per `(pid, signal)` read, so that writers which
/// read through [`SignalStore`] show progress without knowing about it (the library never
/// draws). Total: pids × signals; a whole-signal `scan` counts as one step per pid.
#[derive(Debug)]
pub(crate) struct Counted<'a> {
    inner: &'a dyn SignalStore,
    bar: ProgressBar,
}

impl<'a> Counted<'a> {
    /// Wraps `inner`; the bar's length is set to pids × signals.
    pub(crate) fn new(inner: &'a dyn SignalStore, bar: ProgressBar) -> Counted<'a> {
        bar.set_length((inner.pids().len() * inner.catalog().signals().len()) as u64);
        Counted { inner, bar }
    }
}

impl SignalStore for Counted<'_> {
    fn catalog(&self) -> &Catalog {
        self.inner.catalog()
    }

    fn pids(&self) -> &[Pid] {
        self.inner.pids()
    }

    fn get_bytes(&self, pid: Pid, sid: Sid) -> inframed::Result<Cow<'_, [u8]>> {
        self.bar.inc(1);
        self.inner.get_bytes(pid, sid)
    }

    fn scan(&self, sid: Sid, visit: &mut dyn FnMut(Pid, &[u8])) -> inframed::Result<()> {
        self.inner.scan(sid, visit)?;
        self.bar.inc(self.inner.pids().len() as u64);
        Ok(())
    }

    fn describe(&self) -> StoreDescription {
        self.inner.describe()
    }

    fn verify(&self) -> inframed::Result<()> {
        self.inner.verify()
    }

    fn verify_with(&self, progress: &mut dyn FnMut(u64, u64)) -> inframed::Result<()> {
        self.inner.verify_with(progress)
    }

    fn warnings(&self) -> &[Warning] {
        self.inner.warnings()
    }
}
