//! SIGINT / SIGTERM set a process-wide stop flag that the receive loops poll between batches;
//! SIGHUP sets a reload flag that the housekeeping loop takes.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

static STOP: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_reload_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    RELOAD.store(true, Ordering::Relaxed);
}

/// Installs the SIGHUP handler and returns the flag it sets (to be taken with `swap(false)`).
pub fn install_reload_handler() -> nix::Result<&'static AtomicBool> {
    let action = SigAction::new(
        SigHandler::Handler(on_reload_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe, and it does not
    // replace a handler that other code in this process relies on.
    unsafe { sigaction(Signal::SIGHUP, &action) }?;
    Ok(&RELOAD)
}

extern "C" fn on_stop_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::Relaxed);
}

/// Installs the SIGINT and SIGTERM handlers and returns the flag they set.
///
/// No `SA_RESTART`: a worker sleeping in `poll()` wakes with `EINTR` and sees the flag at once.
pub fn install_stop_handler() -> nix::Result<&'static AtomicBool> {
    let action = SigAction::new(
        SigHandler::Handler(on_stop_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe, and it does
        // not replace a handler that other code in this process relies on.
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(&STOP)
}
