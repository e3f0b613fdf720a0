//! `ingest check-host`: what the appliance needs of this host.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub(crate) struct CheckHostArgs {
    /// The capture interface.
    #[arg(long)]
    iface: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Read /sys and /proc under this directory (for tests on fixture trees).
    #[arg(long, default_value = "/", hide = true)]
    root: PathBuf,
}

pub(crate) fn check_host(args: CheckHostArgs) -> anyhow::Result<ExitCode> {
    use ingest::host::{HostCheck, Status, table, worst};
    let checks = HostCheck {
        root: args.root,
        iface: args.iface,
    }
    .run();
    let worst = worst(&checks);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"worst": worst, "checks": checks}))?
        );
    } else {
        print!("{}", table(&checks));
    }
    Ok(if worst == Status::Fail {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
