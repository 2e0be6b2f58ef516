//! CPU time spent by the server and its database while a scenario runs, read from
//! `/proc`. Per message or request it is a steadier figure than throughput on a
//! machine that is busy with other work: it says what one message costs, not how
//! many fit into whatever CPU was left over.

use serde_json::{json, Value};

/// The processes to watch: the app, and the PostgreSQL postmaster whose children (one
/// backend per pooled connection) do the app's queries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Watched {
    pub server_pid: Option<u32>,
    pub db_pid: Option<u32>,
}

/// CPU seconds (user + system) used so far, by the app, by the database and by this
/// load generator (which shares the machine).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    app: f64,
    db: f64,
    load: f64,
}

impl Watched {
    pub fn sample(&self) -> Option<Sample> {
        let app = cpu_seconds(self.server_pid?)?;
        let db = self.db_pid.map(|pm| cpu_seconds(pm).unwrap_or(0.0) + children(pm).into_iter().filter_map(cpu_seconds).sum::<f64>());
        Some(Sample { app, db: db.unwrap_or(0.0), load: cpu_seconds(std::process::id()).unwrap_or(0.0) })
    }
}

/// Microseconds of CPU per unit of work between two samples, as JSON and as a line.
/// Backends that ended between the samples are not counted (the app's pool keeps its
/// connections, so none end in a run).
pub fn per_unit(before: Option<Sample>, after: Option<Sample>, units: usize, unit: &str) -> (Value, String) {
    match (before, after) {
        (Some(b), Some(a)) if units > 0 => {
            let us = |s: f64| (s / units as f64 * 1e6).round();
            let (app, db, load) = (us(a.app - b.app), us(a.db - b.db), us(a.load - b.load));
            let line = format!("\n  CPU per {unit}: app {app} µs, PostgreSQL {db} µs, load generator {load} µs");
            (json!({ "app_us": app, "db_us": db, "load_us": load }), line)
        }
        _ => (Value::Null, String::new()),
    }
}

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it do not.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks as f64 / hz.max(1) as f64)
}

/// The processes whose parent is `ppid` (bounded by what /proc lists).
fn children(ppid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).filter(|pid| parent_of(*pid) == Some(ppid)).collect()
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_worked_has_used_cpu_and_is_its_childs_parent() {
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed().as_millis() < 50 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let me = std::process::id();
        assert!(cpu_seconds(me).is_some_and(|s| s > 0.0));
        let Ok(mut child) = std::process::Command::new("sleep").arg("5").spawn() else { panic!("sleep does not run") };
        assert!(children(me).contains(&child.id()));
        let _ = child.kill();
        let _ = child.wait();
    }
}
