//! Sigma rules (<https://sigmahq.io/docs/basics/rules.html>) compiled to matchers over parsed
//! syslog events.
//!
//! Supported: `keywords` lists; selections as maps and lists of maps; field modifiers
//! `contains`, `startswith`, `endswith`, `all`, `re` (with its flags `i`, `m`, `s`), `cidr`,
//! `base64`, `base64offset`, `windash`, `exists`, `cased`, the numeric `lt`, `lte`, `gt`,
//! `gte`, `neq`, `fieldref`, the UTF-16 encodings `utf16le` (`wide`), `utf16be` and `utf16`
//! before `base64` or `base64offset`, `expand` (placeholders from the pipelines' `vars`), and
//! their combinations; a key of modifiers only (`'|all'`, `'|re'`) as a keyword
//! search; wildcards `*` and `?` with escapes; conditions with `and`, `or`, `not`, parentheses,
//! `1 of`, `all of`, `them` and name patterns such as `selection_*`. A rule using anything else
//! (an unknown modifier, an aggregation like `| count()`, an unmapped log source) is rejected
//! at load with an error naming the file and the construct; it is never half-applied.
//!
//! Fields: `message` (also `msg`, `Message`) is the body, `host`/`hostname`, `app`/`appname`/
//! `program`, `procid`/`pid`, `msgid`, `facility`, `severity`; any other name is looked up among
//! the body's payload fields (JSON, CEF, LEEF, key=value, audit, event XML, access logs, DNS
//! query logs, squid logs) and structured-data parameters. Keywords match anywhere in the message body.

mod compile;
mod condition;
mod error;
mod filter;
mod level;
mod logsource;
mod matcher;
mod pipeline;
mod route;
mod rule;
mod set;

pub(crate) use error::title;
pub use error::{Invalid, RuleError};
pub use filter::{SigmaFilter, apply_filters};
pub use level::Level;
pub(crate) use level::{parse_level, parse_tags};
pub use logsource::{CategorySource, LogsourceMap, SHIPPED_PIPELINE, ServiceSource};
pub(crate) use matcher::Field;
pub use pipeline::{FieldName, LogsourceCondition};
pub use rule::{About, SigmaRule};
pub use set::{SigmaScratch, SigmaSet};
