//! `format_for` entries: the header and payload format of a port's messages.

use detector::parse::{FormatHint, Payload};

/// One `format_for` entry: messages to a port are read in a given header format, and
/// optionally a given payload format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortFormat {
    /// The port.
    pub port: u16,
    /// Its header format.
    pub format: FormatHint,
    /// Its payload format, if fixed (else detected per message).
    pub payload: Option<Payload>,
}

/// Why a `format_for` entry does not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortFormatError {
    /// Not `PORT=FORMAT[/PAYLOAD]`.
    #[error("{0:?} is not PORT=FORMAT[/PAYLOAD]")]
    Shape(String),
    /// The port is not 1 to 65535.
    #[error("{spec:?}: {port:?} is not a port")]
    Port {
        /// The entry.
        spec: String,
        /// The port as written.
        port: String,
    },
    /// An unknown header format.
    #[error("{spec:?}: format {format:?} is not auto, rfc5424, rfc3164 or raw")]
    Format {
        /// The entry.
        spec: String,
        /// The format as written.
        format: String,
    },
    /// An unknown payload format.
    #[error("{spec:?}: payload {payload:?} is not one of {}", Payload::ALL.map(Payload::name).join(", "))]
    Payload {
        /// The entry.
        spec: String,
        /// The payload as written.
        payload: String,
    },
}

impl PortFormat {
    /// Reads `PORT=FORMAT[/PAYLOAD]` (`5514=rfc3164/cef`; payload `auto` is none).
    pub fn parse(spec: &str) -> Result<Self, PortFormatError> {
        let (port, format) = spec
            .split_once('=')
            .ok_or_else(|| PortFormatError::Shape(spec.to_string()))?;
        let port =
            port.parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| PortFormatError::Port {
                    spec: spec.to_string(),
                    port: port.to_string(),
                })?;
        let (format, payload) = match format.split_once('/') {
            Some((f, p)) => (f, Some(p)),
            None => (format, None),
        };
        let format = match format {
            "auto" => FormatHint::Auto,
            "rfc5424" => FormatHint::Rfc5424,
            "rfc3164" => FormatHint::Rfc3164,
            "raw" => FormatHint::Raw,
            other => {
                return Err(PortFormatError::Format {
                    spec: spec.to_string(),
                    format: other.to_string(),
                });
            }
        };
        let payload = match payload {
            None | Some("auto") => None,
            Some(p) => Some(
                Payload::from_name(p).ok_or_else(|| PortFormatError::Payload {
                    spec: spec.to_string(),
                    payload: p.to_string(),
                })?,
            ),
        };
        Ok(Self {
            port,
            format,
            payload,
        })
    }
}
