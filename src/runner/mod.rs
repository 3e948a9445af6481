//! Running journeys: the step pipeline of one iteration, checks and captures, virtual users with their
//! data leases, and the monitor's schedulers. Workers send outcomes to the pipeline; they never aggregate.

mod body;
#[path = "page/host.rs"]
pub mod browser_host;
pub mod checks;
#[path = "page/evidence.rs"]
pub mod evidence;
pub mod iteration;
mod json_at;
pub mod leases;
pub mod load;
pub mod monitor;
pub mod oauth;
pub mod plan;
mod profile;

pub use iteration::{run_iteration, VirtualUser};
pub use monitor::Monitor;
pub use plan::Plan;
