//! How Sigma log sources map onto syslog.

use crate::parse::Payload;

/// How Sigma log sources map onto syslog: `product: linux` is every message; a `service` is a
/// set of app names (tags), and may also be every message of a payload format whatever its app
/// (`auditd`: every audit record, as `audisp-syslog`, `audispd` with `node=`, rsyslog's imfile
/// under any tag, or the kernel's `audit: type=1400 audit(...)` lines). Configurable;
/// [`LogsourceMap::default`] covers the SigmaHQ Linux rules.
#[derive(Clone, Debug)]
pub struct LogsourceMap {
    /// Products whose rules apply to every message.
    pub products: Vec<String>,
    /// Service -> the app names (case-insensitive) its messages come from.
    pub services: Vec<(String, Vec<String>)>,
    /// Service -> a payload format whose every message belongs to it, whatever its app.
    pub payloads: Vec<(String, Payload)>,
}

/// Which messages a rule's `logsource.service` takes: those of its apps, and those of its
/// payload format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceSource {
    /// App names, compared without case.
    pub apps: Vec<String>,
    /// A payload format all of whose messages are the service's.
    pub payload: Option<Payload>,
}

impl ServiceSource {
    /// Whether a message of `app` with a payload of `payload` is the service's.
    pub fn takes(&self, app: Option<&[u8]>, payload: Payload) -> bool {
        self.payload == Some(payload)
            || app.is_some_and(|a| {
                self.apps
                    .iter()
                    .any(|want| a.eq_ignore_ascii_case(want.as_bytes()))
            })
    }
}

impl LogsourceMap {
    /// The app names of `service`.
    pub fn service_apps(&self, service: &str) -> Option<Vec<String>> {
        self.services
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, apps)| apps.clone())
    }

    /// The messages `service` takes, if the table has it.
    pub fn service(&self, service: &str) -> Option<ServiceSource> {
        let apps = self.service_apps(service);
        let payload = self
            .payloads
            .iter()
            .find(|(s, _)| s == service)
            .map(|&(_, p)| p);
        (apps.is_some() || payload.is_some()).then(|| ServiceSource {
            apps: apps.unwrap_or_default(),
            payload,
        })
    }
}

impl Default for LogsourceMap {
    fn default() -> Self {
        let s = |name: &str, apps: &[&str]| {
            (
                name.to_string(),
                apps.iter().map(|a| a.to_string()).collect(),
            )
        };
        Self {
            products: vec!["linux".into()],
            services: vec![
                s("sshd", &["sshd"]),
                s("cron", &["cron", "crond", "crontab"]),
                s("syslog", &["syslogd", "rsyslogd", "syslog-ng", "syslog"]),
                s("clamav", &["clamd", "freshclam", "clamav", "clamscan"]),
                s("guacamole", &["guacd", "guacamole"]),
                s("sudo", &["sudo"]),
                s("auth", &["sshd", "sudo", "su", "login", "passwd"]),
                s(
                    "auditd",
                    &["auditd", "audit", "audisp-syslog", "audispd", "audisp"],
                ),
                s("vsftpd", &["vsftpd"]),
            ],
            payloads: vec![("auditd".to_string(), Payload::Audit)],
        }
    }
}
