//! `process_*` metrics read from `/proc/self` (Linux), the standard shapes Prometheus client libraries
//! export: CPU seconds, resident memory, open file descriptors, start time. Soak tests and the monitor-overhead
//! benchmark read these.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Gauge, Opts};

pub struct ProcessCollector {
    descs: Vec<Desc>,
    cpu: Counter,
    rss: Gauge,
    fds: Gauge,
    start: Gauge,
}

impl ProcessCollector {
    pub fn new() -> ProcessCollector {
        let cpu = Counter::with_opts(Opts::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        ))
        .expect("static");
        let rss = Gauge::with_opts(Opts::new("process_resident_memory_bytes", "Resident memory size in bytes."))
            .expect("static");
        let fds = Gauge::with_opts(Opts::new("process_open_fds", "Number of open file descriptors.")).expect("static");
        let start = Gauge::with_opts(Opts::new(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
        ))
        .expect("static");
        let descs =
            [&cpu as &dyn Collector, &rss, &fds, &start].iter().flat_map(|c| c.desc().into_iter().cloned()).collect();
        start.set(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
                - uptime_estimate(),
        );
        ProcessCollector { descs, cpu, rss, fds, start }
    }
}

/// Seconds since this process started, from /proc (0 where unavailable).
fn uptime_estimate() -> f64 {
    let (Some(stat), Ok(uptime)) = (read_stat(), std::fs::read_to_string("/proc/uptime")) else {
        return 0.0;
    };
    let Some(sys_uptime) = uptime.split_whitespace().next().and_then(|s| s.parse::<f64>().ok()) else {
        return 0.0;
    };
    (sys_uptime - stat.start_ticks as f64 / clock_ticks()).max(0.0)
}

struct Stat {
    utime: u64,
    stime: u64,
    start_ticks: u64,
    rss_pages: u64,
}

fn read_stat() -> Option<Stat> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        utime: f.get(11)?.parse().ok()?,
        stime: f.get(12)?.parse().ok()?,
        start_ticks: f.get(19)?.parse().ok()?,
        rss_pages: f.get(21)?.parse().ok()?,
    })
}

/// USER_HZ: 100 on every Linux architecture journeyd targets.
fn clock_ticks() -> f64 {
    100.0
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if let Some(stat) = read_stat() {
            let total = (stat.utime + stat.stime) as f64 / clock_ticks();
            let delta = total - self.cpu.get();
            if delta > 0.0 {
                self.cpu.inc_by(delta);
            }
            self.rss.set((stat.rss_pages * 4096) as f64);
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            self.fds.set(dir.count() as f64);
        }
        let mut out = Vec::new();
        out.extend(self.cpu.collect());
        out.extend(self.rss.collect());
        out.extend(self.fds.collect());
        out.extend(self.start.collect());
        out
    }
}
