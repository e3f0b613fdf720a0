//! The subcommands of `ingest`, one file for each family: running the appliance, the offline
//! tools, talking to a running one, and checking the host.

pub(crate) mod host;
pub(crate) mod offline;
pub(crate) mod remote;
pub(crate) mod run;

use std::process::ExitCode;

use ingest::config::Config;

/// Exit status of a configuration that cannot work (sysexits' `EX_CONFIG`): the systemd unit
/// lists it in `RestartPreventExitStatus`, so a bad configuration is not restarted forever.
pub(crate) const EX_CONFIG: u8 = 78;

/// An error that means the configuration (the file, a flag, a rule) cannot work: the command
/// exits with [`EX_CONFIG`].
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub(crate) struct ConfigProblem(pub(crate) anyhow::Error);

/// A command's failure as its exit status, the error on stderr: [`EX_CONFIG`] when a
/// [`ConfigProblem`] is among its causes, else 1.
pub(crate) fn exit_status(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            if e.chain().any(|c| c.is::<ConfigProblem>()) {
                ExitCode::from(EX_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

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
