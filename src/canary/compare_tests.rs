use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

fn run(at: SystemTime, ms: u64, passed: bool) -> Sample {
    let latency = Duration::from_millis(ms);
    Sample { at, passed, duration: latency, steps: vec![(Arc::from("view-price"), latency, passed)] }
}
