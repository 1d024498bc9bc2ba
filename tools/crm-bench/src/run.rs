//! `crm-bench run`: the main job, the side-by-side benchmark on this machine.
//! (Being written: scripts/bench-local.sh still does this job.)

use clap::Args;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Short runs that check the pipeline end to end; the figures are indicative only.
    #[arg(long)]
    pub quick: bool,
}

pub fn execute(_args: &RunArgs) -> Result<(), String> {
    Err("crm-bench run is not written yet: use scripts/bench-local.sh".into())
}
