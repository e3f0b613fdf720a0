//! The spool: alerts that could not be delivered yet, in a file, replayed in order.

use std::{
    fs::{File, OpenOptions},
    io::{self, BufRead, BufReader, Read, Seek, Write},
    path::PathBuf,
    time::Duration,
};

use serde::{Deserialize, Serialize};

use super::outgoing::Outgoing;

/// Alerts that could not be delivered yet: one JSON line each (with its severity and time) in
/// a file, replayed from the front.
pub(super) struct Spool {
    pub(super) path: PathBuf,
    pub(super) max_bytes: u64,
    pub(super) len_bytes: u64,
    pub(super) pending: u64,
}

#[derive(Serialize, Deserialize)]
struct SpooledAlert {
    #[serde(default)]
    pub(super) id: String,
    #[serde(default)]
    pub(super) level: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) event_host: Option<String>,
    pub(super) severity: u8,
    pub(super) time_us: u64,
    pub(super) json: String,
}

impl Spool {
    pub(super) fn open(path: PathBuf, max_bytes: u64) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut spool = Self {
            path,
            max_bytes,
            len_bytes: 0,
            pending: 0,
        };
        // Alerts left from an earlier run are replayed first.
        if let Ok(f) = File::open(&spool.path) {
            spool.len_bytes = f.metadata()?.len();
            spool.pending = BufReader::new(f).lines().count() as u64;
        }
        Ok(spool)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Appends `alert`; `false` when it does not fit.
    pub(super) fn push(&mut self, alert: &Outgoing) -> io::Result<bool> {
        let time_us = alert
            .time
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let mut line = serde_json::to_vec(&SpooledAlert {
            id: alert.id.clone(),
            level: alert.level.clone(),
            event_host: alert.event_host.clone(),
            severity: alert.severity,
            time_us,
            json: alert.json.clone(),
        })
        .map_err(io::Error::other)?;
        line.push(b'\n');
        if self.len_bytes + line.len() as u64 > self.max_bytes {
            return Ok(false);
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(&line)?;
        self.len_bytes += line.len() as u64;
        self.pending += 1;
        Ok(true)
    }

    /// Delivers spooled alerts in order through `deliver` until it fails or the spool is empty;
    /// returns how many went out. What was delivered leaves the file.
    pub(super) fn replay(
        &mut self,
        mut deliver: impl FnMut(&Outgoing) -> io::Result<()>,
    ) -> io::Result<u64> {
        let mut f = File::open(&self.path)?;
        let mut reader = BufReader::new(&mut f);
        let mut done_bytes = 0u64;
        let mut sent = 0;
        let mut line = String::new();
        let mut failed = None;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                break;
            }
            let alert = match serde_json::from_str::<SpooledAlert>(line.trim_end()) {
                Ok(s) => Outgoing {
                    id: s.id,
                    json: s.json,
                    ecs: None,
                    level: s.level,
                    event_host: s.event_host,
                    severity: s.severity,
                    time: std::time::UNIX_EPOCH + Duration::from_micros(s.time_us),
                },
                // A torn last line (a crash mid-write) is skipped, not replayed as garbage.
                Err(_) => {
                    done_bytes += line.len() as u64;
                    self.pending = self.pending.saturating_sub(1);
                    continue;
                }
            };
            if let Err(e) = deliver(&alert) {
                failed = Some(e);
                break;
            }
            done_bytes += line.len() as u64;
            sent += 1;
            self.pending = self.pending.saturating_sub(1);
        }
        // Keep what is left: copy the rest to the front of the file.
        reader.seek(io::SeekFrom::Start(done_bytes))?;
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest)?;
        drop(reader);
        std::fs::write(&self.path, &rest)?;
        self.len_bytes = rest.len() as u64;
        if rest.is_empty() {
            self.pending = 0;
        }
        match failed {
            Some(e) if sent == 0 => Err(e),
            _ => Ok(sent),
        }
    }
}
