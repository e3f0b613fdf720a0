//! Which structured format a body is in.

/// How a body is structured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Free text: no fields.
    Plain,
    /// A JSON object (GELF is one).
    Json,
    /// ArcSight Common Event Format.
    Cef,
    /// IBM QRadar Log Event Extended Format, 1.0 or 2.0.
    Leef,
    /// `key=value` pairs (logfmt).
    Kv,
    /// A Linux audit record, `type=X msg=audit(ts:serial): k=v ...`.
    Audit,
    /// An event in the Windows event XML schema, `<Event>...<EventID>1</EventID>...<Data
    /// Name="Image">/usr/bin/curl</Data>...</Event>`, as Sysmon for Linux writes them.
    EventXml,
    /// A web server's access log line, common or combined format (`crate::parse::fields`'s
    /// `ACCESS_LOG_FIELDS`).
    AccessLog,
    /// A DNS server's query log line (dnsmasq, BIND): `query`, `record_type`, `answer`,
    /// `src_ip`.
    DnsLog,
    /// A web proxy's access log line, squid's native format (`c-ip`, `cs-method`, `c-uri`,
    /// `cs-host`, `sc-status` ...).
    ProxyLog,
}

impl Payload {
    /// Every kind.
    pub const ALL: [Payload; 10] = [
        Payload::Plain,
        Payload::Json,
        Payload::Cef,
        Payload::Leef,
        Payload::Kv,
        Payload::Audit,
        Payload::EventXml,
        Payload::AccessLog,
        Payload::DnsLog,
        Payload::ProxyLog,
    ];

    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            Payload::Plain => "plain",
            Payload::Json => "json",
            Payload::Cef => "cef",
            Payload::Leef => "leef",
            Payload::Kv => "kv",
            Payload::Audit => "audit",
            Payload::EventXml => "event-xml",
            Payload::AccessLog => "access-log",
            Payload::DnsLog => "dns-log",
            Payload::ProxyLog => "proxy-log",
        }
    }

    /// The kind with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Payload::ALL.into_iter().find(|p| p.name() == name)
    }
}
