//! The peers: rsyslog and syslog-ng, started in the receiving namespace to write what they
//! receive to a file.

use super::harness::Harness;
use super::options::Peer;
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use testbed::netns::{self, Spawned, VethPair};

use super::harness::udp_bound;

impl Harness<'_> {
    pub(super) fn start_peer(&self, peer: Peer, file: &Path) -> anyhow::Result<Spawned> {
        let dir = self.opts.out.join(format!("{}-state", peer.name()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let conf = dir.join("peer.conf");
        let (program, mut args) = peer_command(peer)?;
        let file = file.display();
        let (a4, a6) = (netns::ADDR_B, netns::ADDR6_B);
        match peer {
            Peer::Rsyslog => {
                // imudp into a file, nothing else (no local sockets, no kernel log).
                std::fs::write(
                    &conf,
                    format!(
                        "global(workDirectory=\"{d}\")\n\
                         module(load=\"imudp\" threads=\"1\")\n\
                         input(type=\"imudp\" address=\"{a4}\" port=\"514\" rcvbufSize=\"64m\")\n\
                         input(type=\"imudp\" address=\"{a6}\" port=\"514\" rcvbufSize=\"64m\")\n\
                         *.* action(type=\"omfile\" file=\"{file}\")\n",
                        d = dir.display()
                    ),
                )?;
                args.extend([
                    "-n".into(),
                    "-f".into(),
                    conf.display().to_string(),
                    "-i".into(),
                    dir.join("pid").display().to_string(),
                ]);
            }
            Peer::SyslogNg => {
                std::fs::write(
                    &conf,
                    format!(
                        "@version: 3.38\n\
                         options {{ log-fifo-size(100000); flush-lines(1000); stats-freq(0); }};\n\
                         source s {{\n\
                           network(ip(\"{a4}\") port(514) transport(\"udp\") so-rcvbuf(67108864));\n\
                           network(ip(\"{a6}\") ip-protocol(6) port(514) transport(\"udp\") so-rcvbuf(67108864));\n\
                         }};\n\
                         destination d {{ file(\"{file}\"); }};\n\
                         log {{ source(s); destination(d); }};\n"
                    ),
                )?;
                args.extend([
                    "-F".into(),
                    "--no-caps".into(),
                    "-f".into(),
                    conf.display().to_string(),
                    "-p".into(),
                    dir.join("pid").display().to_string(),
                    "-R".into(),
                    dir.join("persist").display().to_string(),
                    "-c".into(),
                    dir.join("ctl").display().to_string(),
                ]);
            }
        }
        let mut cmd = VethPair::command(&self.pair.ns_b, "taskset");
        cmd.args(["-c", &self.opts.receiver_cpu.to_string()])
            .arg(&program)
            .args(&args)
            .stdout(std::process::Stdio::null());
        if peer == Peer::SyslogNg
            && let Some(lib) = syslog_ng_root().map(|r| r.join("usr/lib/syslog-ng"))
        {
            cmd.env("LD_LIBRARY_PATH", lib);
        }
        let mut d = Spawned::spawn(cmd).with_context(|| format!("starting {}", peer.name()))?;
        // Ready when its UDP socket is bound in the receiving namespace.
        let deadline = Instant::now() + Duration::from_secs(15);
        while !udp_bound(&self.pair.ns_b)? {
            if let Some(status) = d.try_wait()? {
                bail!(
                    "{} exited ({status}) at start; its log is above",
                    peer.name()
                );
            }
            if Instant::now() > deadline {
                bail!("{} did not bind UDP port 514 within 15 s", peer.name());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(d)
    }
}

/// Where syslog-ng was unpacked (`deploy/bootstrap.sh` puts it in /opt/syslog-ng, since it
/// conflicts with rsyslog as a package); `SYSLOG_NG_ROOT` overrides.
fn syslog_ng_root() -> Option<PathBuf> {
    let root = std::env::var_os("SYSLOG_NG_ROOT")
        .map_or_else(|| PathBuf::from("/opt/syslog-ng"), PathBuf::from);
    root.join("usr/sbin/syslog-ng").exists().then_some(root)
}

/// The peer's program and its fixed arguments, or why it cannot run.
pub(super) fn peer_command(peer: Peer) -> anyhow::Result<(PathBuf, Vec<String>)> {
    match peer {
        Peer::Rsyslog => {
            let path = PathBuf::from("/usr/sbin/rsyslogd");
            anyhow::ensure!(
                path.exists(),
                "rsyslogd not installed (deploy/bootstrap.sh installs it)"
            );
            Ok((path, Vec::new()))
        }
        Peer::SyslogNg => {
            let root = syslog_ng_root().context(
                "syslog-ng not unpacked in /opt/syslog-ng (deploy/bootstrap.sh does it)",
            )?;
            let modules = std::fs::read_dir(root.join("usr/lib/syslog-ng"))
                .ok()
                .and_then(|mut d| d.find_map(|e| e.ok().filter(|e| e.path().is_dir())))
                .map(|e| e.path())
                .context("no syslog-ng module folder")?;
            Ok((
                root.join("usr/sbin/syslog-ng"),
                vec![format!("--module-path={}", modules.display())],
            ))
        }
    }
}
