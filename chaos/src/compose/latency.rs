//! Latency between the sites: `tc qdisc … netem delay` on each node's intersite interface,
//! entered with `nsenter -t <pid> -n` from the host. Where this machine cannot (no netem, no
//! `nsenter`/`tc`, no permission), latency is reported as unavailable rather than failing the
//! run (see the module documentation of [`super`]).

use super::ComposeBackend;
use super::docker::{self, CommandError, inspect_one};
use crate::backend::BackendError;

impl ComposeBackend {
    /// Sets the current latency on one node's intersite interface. `Ok(false)` when this
    /// machine cannot (see the module documentation).
    pub(super) async fn apply_latency(&mut self, id: u64) -> Result<bool, BackendError> {
        let node = self.node(id)?.clone();
        let c = inspect_one(&node.container).await?;
        let Some(ip) = c.network(&self.intersite).map(|a| a.ip_address.clone()).filter(|ip| !ip.is_empty())
        else {
            // Killed or cut: set again when it comes back.
            return Ok(true);
        };
        let pid = c.state.pid.to_string();
        let addrs = match docker::run("nsenter", &["-t", &pid, "-n", "ip", "-o", "-4", "addr", "show"]).await
        {
            Ok(out) => out,
            Err(e) => return self.latency_unavailable(e),
        };
        let dev = docker::interface_with_ip(&addrs, &ip).ok_or_else(|| {
            BackendError::new(format!(
                "node {id} ({}): no interface holds its intersite address {ip}",
                node.name
            ))
        })?;
        let delay = format!("{}ms", self.latency_ms);
        let result = if self.latency_ms > 0 {
            docker::run(
                "nsenter",
                &["-t", &pid, "-n", "tc", "qdisc", "replace", "dev", &dev, "root", "netem", "delay", &delay],
            )
            .await
        } else {
            match docker::run("nsenter", &["-t", &pid, "-n", "tc", "qdisc", "del", "dev", &dev, "root"]).await
            {
                Err(e) if docker::no_qdisc_to_delete(e.stderr()) => Ok(String::new()),
                other => other,
            }
        };
        match result {
            Ok(_) => {
                self.netem = Some(true);
                Ok(true)
            }
            Err(e) => self.latency_unavailable(e),
        }
    }

    /// Turns a failed `nsenter`/`tc` into `Ok(false)` when it means "cannot here", else an error.
    fn latency_unavailable(&mut self, e: CommandError) -> Result<bool, BackendError> {
        let stderr = e.stderr().to_ascii_lowercase();
        let cannot = e.is_not_installed()
            || docker::netem_missing(&stderr)
            || stderr.contains("operation not permitted")
            || stderr.contains("permission denied");
        if cannot {
            tracing::warn!(error = %e, "compose backend: no latency injection on this machine");
            self.netem = Some(false);
            return Ok(false);
        }
        Err(e.into())
    }

    /// Sets the latency again on a node that came back, when latency is in force.
    pub(super) async fn reapply_latency(&mut self, id: u64) -> Result<(), BackendError> {
        if self.latency_ms > 0 && self.netem == Some(true) {
            self.apply_latency(id).await?;
        }
        Ok(())
    }
}
