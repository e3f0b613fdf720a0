//! bench's integration tests, one binary: the demo's end-to-end run, the chaos harness and the
//! replayer, as root in namespaces each makes itself. They take [`serial`] so they run one at a
//! time, as they did as binaries of their own: on two CPUs, side by side, they would measure
//! each other.

mod chaos;
mod e2e;
mod replay;

/// The lock a test that pushes traffic holds for its whole run (a failed test's poisoned lock
/// still serves the next).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}
