//! `crm-bench stack`: start a stack, run a command against it, stop it.
//! (Being written: scripts/lib/stack.sh still does this job.)

use clap::Args;

#[derive(Args, Debug)]
pub struct StackArgs {
    /// The command to run while the stack is up.
    #[arg(last = true)]
    pub command: Vec<String>,
}

pub fn execute(_args: &StackArgs) -> Result<(), String> {
    Err("crm-bench stack is not written yet: use scripts/contract.sh".into())
}
