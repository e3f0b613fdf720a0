//! How Sigma log sources map onto syslog.

/// How Sigma log sources map onto syslog: `product: linux` is every message; a `service` is a
/// set of app names (tags). Configurable; [`LogsourceMap::default`] covers the SigmaHQ Linux
/// rules.
#[derive(Clone, Debug)]
pub struct LogsourceMap {
    /// Products whose rules apply to every message.
    pub products: Vec<String>,
    /// Service -> the app names (case-insensitive) its messages come from.
    pub services: Vec<(String, Vec<String>)>,
}

impl LogsourceMap {
    /// The app names of `service`.
    pub fn service_apps(&self, service: &str) -> Option<Vec<String>> {
        self.services
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, apps)| apps.clone())
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
                s("auditd", &["auditd", "audit"]),
                s("vsftpd", &["vsftpd"]),
            ],
        }
    }
}
