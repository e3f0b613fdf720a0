//! How Sigma log sources map onto syslog.

use crate::parse::{CiscoTag, Event, Payload};

/// How Sigma log sources map onto syslog: `product: linux` is every message; a `service` is a
/// set of app names (tags), and may also be every message of a payload format whatever its app
/// (`auditd`: every audit record, as `audisp-syslog`, `audispd` with `node=`, rsyslog's imfile
/// under any tag, or the kernel's `audit: type=1400 audit(...)` lines). Products such as
/// `cisco` take only messages with a `%FAC-SEV-MNEMONIC:` tag, and their services are sets of
/// tags. Read from processing pipelines ([`LogsourceMap::with_pipeline`]); [`LogsourceMap::default`] is the
/// shipped one's, which covers the SigmaHQ Linux, auditd and Cisco rules, and the
/// `process_creation`, `network_connection`, `file_event` and kin of Sysmon for Linux.
#[derive(Clone, Debug)]
pub struct LogsourceMap {
    /// Products whose rules apply to every message.
    pub products: Vec<String>,
    /// Service -> the app names (case-insensitive) its messages come from.
    pub services: Vec<(String, Vec<String>)>,
    /// Service -> a payload format whose every message belongs to it, whatever its app.
    pub payloads: Vec<(String, Payload)>,
    /// Products whose messages carry a Cisco-style `%FAC-SEV-MNEMONIC:` tag (IOS, IOS-XE,
    /// NX-OS, ASA): their rules apply only to those messages.
    pub tagged_products: Vec<String>,
    /// (Tagged product, service) -> the tags its messages carry: a facility (`BGP`), or a
    /// facility and mnemonic (`ASA-111008`).
    pub tagged_services: Vec<(String, String, Vec<String>)>,
    /// Category -> the events of it.
    pub categories: Vec<(String, Vec<CategorySource>)>,
    /// Field names read as others, for the rules of a log source.
    pub field_names: Vec<super::pipeline::FieldName>,
    /// The values of `expand`'s placeholders (`%admins%`): the pipelines' `vars`.
    pub vars: Vec<(String, Vec<String>)>,
}

/// The shipped processing pipeline: how Sigma's log sources map onto syslog
/// (`detector/rules/pipelines/syslog.yml`).
pub const SHIPPED_PIPELINE: &str = include_str!("../../../rules/pipelines/syslog.yml");

/// Which messages a rule's `logsource.category` takes: events of a payload format with a field
/// of a value (`process_creation`: Sysmon for Linux's event 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategorySource {
    /// The payload format of its events.
    pub payload: Payload,
    /// The field that says the kind of event, and its value.
    pub field: String,
    /// The value; `*` for any.
    pub value: String,
}

impl CategorySource {
    /// Whether `e` is of the category: of its payload format, with its field at its value
    /// (`*`: any value, the field only has to be there).
    pub fn takes(&self, e: &Event<'_>) -> bool {
        let any = self.value == "*";
        e.payload == self.payload
            && e.fields().any(|f| {
                f.key == self.field.as_bytes() && (any || f.value == self.value.as_bytes())
            })
    }
}

/// Which messages a rule's `logsource.service` takes: those of its apps, and those of its
/// payload format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceSource {
    /// App names, compared without case.
    pub apps: Vec<String>,
    /// A payload format all of whose messages are the service's.
    pub payload: Option<Payload>,
    /// Tags (`FAC` or `FAC-MNEMONIC`, compared without case) whose messages are the service's.
    pub tags: Vec<String>,
}

impl ServiceSource {
    /// Whether a message of `app` with a payload of `payload` and a Cisco tag `cisco` is the
    /// service's.
    pub fn takes(&self, app: Option<&[u8]>, payload: Payload, cisco: Option<CiscoTag<'_>>) -> bool {
        self.payload == Some(payload)
            || cisco.is_some_and(|c| self.tags.iter().any(|t| tag_is(t.as_bytes(), c)))
            || app.is_some_and(|a| {
                self.apps
                    .iter()
                    .any(|want| a.eq_ignore_ascii_case(want.as_bytes()))
            })
    }
}

/// Which messages a rule's whole `logsource` takes: its product's, its category's and its
/// service's at once. Rules share gates (a set evaluates each distinct gate once per event).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Gate {
    /// Its product takes only messages with a Cisco-style tag.
    pub(super) tagged: bool,
    /// The events it is limited to (from `logsource.category`): those of any of these.
    pub(super) category: Option<Vec<CategorySource>>,
    /// The messages it is limited to (from `logsource.service`).
    pub(super) service: Option<ServiceSource>,
}

impl Gate {
    /// Whether it lets every message through.
    pub(super) fn is_open(&self) -> bool {
        *self == Gate::default()
    }

    /// Whether it lets `e` through.
    pub(super) fn takes(&self, e: &Event<'_>) -> bool {
        (!self.tagged || e.cisco.is_some())
            && self
                .category
                .as_ref()
                .is_none_or(|cs| cs.iter().any(|c| c.takes(e)))
            && self
                .service
                .as_ref()
                .is_none_or(|s| s.takes(e.app, e.payload, e.cisco))
    }
}

/// Whether `want` (`FAC` or `FAC-MNEMONIC`) names the tag `c`.
fn tag_is(want: &[u8], c: CiscoTag<'_>) -> bool {
    if want.eq_ignore_ascii_case(c.facility) {
        return true;
    }
    want.len() == c.facility.len() + 1 + c.mnemonic.len()
        && want[..c.facility.len()].eq_ignore_ascii_case(c.facility)
        && want[c.facility.len()] == b'-'
        && want[c.facility.len() + 1..].eq_ignore_ascii_case(c.mnemonic)
}

impl LogsourceMap {
    /// The events of `category` (any of its sources), if the table has it.
    pub fn category(&self, category: &str) -> Option<Vec<CategorySource>> {
        self.categories
            .iter()
            .find(|(c, _)| c == category)
            .map(|(_, s)| s.clone())
    }

    /// The messages `service` of the tagged `product` takes, if the table has it.
    pub fn tagged_service(&self, product: &str, service: &str) -> Option<ServiceSource> {
        self.tagged_services
            .iter()
            .find(|(p, s, _)| p == product && s == service)
            .map(|(_, _, tags)| ServiceSource {
                tags: tags.clone(),
                ..ServiceSource::default()
            })
    }

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
            tags: Vec::new(),
        })
    }
}

impl Default for LogsourceMap {
    /// The shipped pipeline's map ([`SHIPPED_PIPELINE`]).
    fn default() -> Self {
        Self::empty()
            .with_pipeline("detector/rules/pipelines/syslog.yml", SHIPPED_PIPELINE)
            .expect("the shipped pipeline reads (tested)")
    }
}
