//! Running under systemd (`Type=notify`, sd_notify(3)): readiness once the program is attached
//! and every worker receives, a status line, the watchdog pinged from the housekeeping loop, and
//! the reload and stop states, as datagrams to `$NOTIFY_SOCKET`. Outside systemd (no
//! `NOTIFY_SOCKET`) every call does nothing.

use std::{
    ffi::OsString,
    os::unix::net::{SocketAddr, UnixDatagram},
    time::{Duration, Instant},
};

/// How often the status line is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// The service manager's side of the daemon.
#[derive(Debug)]
pub struct Service {
    /// Where systemd listens, when it does.
    socket: Option<OsString>,
    /// Half the watchdog interval systemd set (`WatchdogSec=`), when it set one.
    ping_every: Option<Duration>,
    last_ping: Instant,
    last_status: Instant,
}

impl Default for Service {
    fn default() -> Self {
        Self::from_env()
    }
}

impl Service {
    /// Reads what systemd asked for: `NOTIFY_SOCKET`, and `WATCHDOG_USEC` when `WATCHDOG_PID`
    /// is this process (or unset).
    pub fn from_env() -> Self {
        let pid_matches = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|&u| u > 0 && pid_matches)
            .map(Duration::from_micros);
        Self::new(std::env::var_os("NOTIFY_SOCKET"), watchdog)
    }

    /// Notifies `socket` (a path, or `@name` for an abstract socket), with a `watchdog`
    /// interval when one is set.
    pub fn new(socket: Option<OsString>, watchdog: Option<Duration>) -> Self {
        let now = Instant::now();
        Self {
            socket: socket.filter(|s| !s.is_empty()),
            ping_every: watchdog.map(|d| d / 2),
            last_ping: now,
            last_status: now,
        }
    }

    /// The watchdog interval systemd set, if any.
    pub fn watchdog(&self) -> Option<Duration> {
        self.ping_every.map(|d| d * 2)
    }

    /// Sends one notification (`KEY=VALUE` lines). A failure is logged, never fatal: the
    /// service manager is told nothing more, and a watchdog then restarts the service.
    fn send(&self, lines: &[&str]) {
        let Some(socket) = &self.socket else {
            return;
        };
        let mut message = String::new();
        for l in lines {
            message.push_str(l);
            message.push('\n');
        }
        let sent = (|| -> std::io::Result<()> {
            let bytes = socket.as_encoded_bytes();
            let addr = match bytes.strip_prefix(b"@") {
                Some(name) => {
                    use std::os::linux::net::SocketAddrExt;
                    SocketAddr::from_abstract_name(name)?
                }
                None => SocketAddr::from_pathname(socket)?,
            };
            let out = UnixDatagram::unbound()?;
            out.send_to_addr(message.as_bytes(), &addr)?;
            Ok(())
        })();
        if let Err(e) = sent {
            tracing::warn!("telling systemd {:?}: {e}", message.trim_end());
        }
    }

    /// The daemon is up: the program attached, every worker receiving.
    pub fn ready(&mut self, status: &str) {
        self.send(&["READY=1", &format!("STATUS={status}")]);
        self.last_status = Instant::now();
    }

    /// A reload has begun (systemd holds `systemctl reload` until [`Service::reloaded`]).
    pub fn reloading(&self) {
        let mut lines = vec!["RELOADING=1".to_string()];
        if let Ok(now) = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
            let usec = now.tv_sec() * 1_000_000 + now.tv_nsec() / 1_000;
            lines.push(format!("MONOTONIC_USEC={usec}"));
        }
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        self.send(&lines);
    }

    /// A reload has ended, applied or refused (`status` says which).
    pub fn reloaded(&mut self, status: &str) {
        self.send(&["READY=1", &format!("STATUS={status}")]);
        self.last_status = Instant::now();
    }

    /// The daemon is stopping: steering off, rings draining.
    pub fn stopping(&self) {
        self.send(&["STOPPING=1", "STATUS=stopping: draining the rings"]);
    }

    /// Called every housekeeping round: pings the watchdog when due, and refreshes the status
    /// line with `status()` now and then. The housekeeping loop running is what the ping
    /// vouches for: a hung loop stops pinging, and systemd restarts the service.
    pub fn tick(&mut self, status: impl FnOnce() -> String) {
        if self.socket.is_none() {
            return;
        }
        let now = Instant::now();
        if let Some(every) = self.ping_every
            && now.duration_since(self.last_ping) >= every
        {
            self.send(&["WATCHDOG=1"]);
            self.last_ping = now;
        }
        if now.duration_since(self.last_status) >= STATUS_EVERY {
            self.send(&[&format!("STATUS={}", status())]);
            self.last_status = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages a fake service manager received on its notify socket.
    fn received(socket: &UnixDatagram) -> Vec<String> {
        socket.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        while let Ok(n) = socket.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        got
    }

    #[test]
    fn ready_watchdog_reload_and_stop_reach_the_notify_socket() {
        let dir = std::env::temp_dir().join(format!("ingest-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).unwrap();
        let mut service = Service::new(
            Some(path.clone().into_os_string()),
            Some(Duration::from_millis(20)),
        );
        assert_eq!(service.watchdog(), Some(Duration::from_millis(20)));
        service.ready("receiving on eth1");
        std::thread::sleep(Duration::from_millis(15));
        service.tick(|| "unused".into());
        service.reloading();
        service.reloaded("reloaded: rule set 1");
        service.stopping();
        let got = received(&socket);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got[0], "READY=1\nSTATUS=receiving on eth1\n", "{got:?}");
        assert_eq!(got[1], "WATCHDOG=1\n", "{got:?}");
        assert!(
            got[2].starts_with("RELOADING=1\nMONOTONIC_USEC="),
            "{got:?}"
        );
        assert_eq!(got[3], "READY=1\nSTATUS=reloaded: rule set 1\n");
        assert!(got[4].starts_with("STOPPING=1\n"), "{got:?}");
        assert_eq!(got.len(), 5, "{got:?}");
    }

    #[test]
    fn abstract_sockets_are_reached_and_no_socket_means_silence() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("ingest-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let socket = UnixDatagram::bind_addr(&addr).unwrap();
        let mut service = Service::new(Some(format!("@{name}").into()), None);
        service.ready("up");
        assert_eq!(received(&socket), ["READY=1\nSTATUS=up\n"]);
        // Outside systemd nothing is sent and nothing fails.
        let mut quiet = Service::new(None, Some(Duration::from_millis(1)));
        quiet.ready("up");
        quiet.tick(|| unreachable!("no status without a socket"));
    }
}
