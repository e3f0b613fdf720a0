//! The subcommands of `ingest`, one file for each family: running the appliance, the offline
//! tools, talking to a running one, and checking the host.

pub(crate) mod host;
pub(crate) mod offline;
pub(crate) mod remote;
pub(crate) mod run;

use ingest::config::Config;

/// How the detector learns what is normal: the same flags for `ingest run` and `ingest detect`.
#[derive(Clone, Debug, clap::Args)]
pub(crate) struct LearnArgs {
    /// Learn what is normal: mine message templates and keep rate baselines per (host, app,
    /// template), alerting on a new template (after the warm-up) and on rate spikes.
    #[arg(long)]
    pub(crate) learn: bool,
    /// Messages each worker sees (lines, offline) before new templates raise alerts (with
    /// --learn).
    #[arg(long, default_value_t = Config::default().learn_warmup)]
    pub(crate) learn_warmup: u64,
    /// Length of a rate baseline's counting interval, seconds (with --learn; ten intervals of
    /// warm-up per key).
    #[arg(long, default_value_t = Config::default().learn_interval)]
    pub(crate) learn_interval: u64,
}

impl LearnArgs {
    /// Puts the flags that `given` says were given into `config`.
    pub(crate) fn apply(&self, config: &mut Config, given: impl Fn(&str) -> bool) {
        if given("learn") {
            config.learn = self.learn;
        }
        if given("learn_warmup") {
            config.learn_warmup = self.learn_warmup;
        }
        if given("learn_interval") {
            config.learn_interval = self.learn_interval;
        }
    }
}
