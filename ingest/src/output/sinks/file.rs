//! The JSON-lines file destination (reopened on SIGHUP, for logrotate).

use std::{
    fs::{File, OpenOptions},
    io::{self, BufWriter, Write},
    path::PathBuf,
};

use super::{
    destination::{Destination, closed},
    outgoing::Outgoing,
};

/// A JSON-lines file, one alert a line.
pub(super) struct FileDestination {
    pub(super) path: PathBuf,
    pub(super) file: Option<BufWriter<File>>,
}

impl Destination for FileDestination {
    fn open(&mut self) -> io::Result<()> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.file = Some(BufWriter::new(f));
        Ok(())
    }

    fn write(&mut self, alert: &Outgoing) -> io::Result<u64> {
        let f = self.file.as_mut().ok_or_else(closed)?;
        f.write_all(alert.json.as_bytes())?;
        f.write_all(b"\n")?;
        Ok(1)
    }

    fn flush(&mut self) -> io::Result<u64> {
        self.file.as_mut().map_or(Ok(()), Write::flush).map(|()| 0)
    }

    fn close(&mut self) {
        if let Some(mut f) = self.file.take() {
            let _ = f.flush();
        }
    }
}
