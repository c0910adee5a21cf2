//! The workload's setup operation (the bank's opening balances) and waiting until every node
//! shows it. On stores that replicate asynchronously a worker at another replica could
//! otherwise read the accounts before they exist, a wrong total that says nothing about
//! transfers. The wait reads each node's own state outside the history.

use crate::run::log::HarnessLog;
use std::time::{Duration, Instant};
use workloads::{Invocation, Target, Workload};

/// Longest wait for the setup to reach every node.
pub const SETUP_WAIT: Duration = Duration::from_secs(5);

/// Waits (at most [`SETUP_WAIT`]) until a local read on every node returns `setup`'s value;
/// logs how long it took, or which nodes still lag. Returns the lagging node names.
pub async fn wait_visible(
    target: &dyn Target,
    workload: Workload,
    setup: &Invocation,
    log: &HarnessLog,
) -> Vec<String> {
    let read = workload.final_read(&serde_json::Value::Null);
    let names = target.node_names();
    let start = Instant::now();
    let mut lagging: Vec<usize> = (0..target.nodes()).collect();
    loop {
        let mut still = Vec::new();
        for &n in &lagging {
            let done = target.node_client(n).invoke(&read).await;
            if !(done.typ == history::EventType::Ok && done.value == setup.value) {
                still.push(n);
            }
        }
        lagging = still;
        if lagging.is_empty() || start.elapsed() >= SETUP_WAIT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lagging: Vec<String> = lagging
        .iter()
        .map(|&n| names.get(n).cloned().unwrap_or_else(|| n.to_string()))
        .collect();
    if lagging.is_empty() {
        log.line(format!(
            "{} setup visible on every node after {:.2}s",
            workload.name(),
            start.elapsed().as_secs_f64()
        ));
    } else {
        log.line(format!(
            "{} setup not visible on node(s) {} after {:.0}s: reads there may show missing data",
            workload.name(),
            lagging.join(", "),
            SETUP_WAIT.as_secs_f64()
        ));
    }
    lagging
}
