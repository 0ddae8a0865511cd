//! A partition: a node's container leaves the intersite network (and loses its default
//! route, so it cannot go round through the host) but keeps its site network, as a site cut
//! off from the others would; healing puts both back with the aliases the peers know it by.

use super::ComposeBackend;
use super::docker::{self, docker, inspect_one};
use crate::backend::BackendError;

impl ComposeBackend {
    /// Cuts node `id` off the other sites (see the module documentation).
    pub(super) async fn disconnect(&mut self, id: u64) -> Result<(), BackendError> {
        let node = self.node(id)?.clone();
        // Remember the address it has now, to offer it back on reconnect.
        self.refresh(id).await?;
        docker(&["network", "disconnect", &self.intersite, &node.container]).await?;
        // Leaving `intersite` is not enough where the engine does not isolate its bridge
        // networks from each other (seen here): the container would still reach the other sites
        // through its default route via the host. Without a default route it reaches only its
        // own site network: the simulator (the providers) and the harness, as a site cut off
        // from the others would.
        let c = inspect_one(&node.container).await?;
        let pid = c.state.pid.to_string();
        if let Err(e) = docker::run("nsenter", &["-t", &pid, "-n", "ip", "route", "del", "default"]).await
            && !e.stderr().contains("No such process")
        {
            return Err(BackendError::new(format!(
                "node {id} ({}): removing its default route to complete the partition: {e}",
                node.name
            )));
        }
        Ok(())
    }

    /// Heals the partition of node `id`: reconnects it to intersite under the aliases the
    /// peers address it by (and its old address when the network allows), restores its default
    /// route, and sets the latency in force again on its new interface.
    pub(super) async fn reconnect(&mut self, id: u64) -> Result<(), BackendError> {
        let node = self.node(id)?.clone();
        let mut args: Vec<&str> = vec!["network", "connect"];
        for alias in &node.intersite_aliases {
            args.extend(["--alias", alias.as_str()]);
        }
        let mut with_ip = args.clone();
        if !node.intersite_ip.is_empty() {
            with_ip.extend(["--ip", node.intersite_ip.as_str()]);
        }
        with_ip.extend([self.intersite.as_str(), node.container.as_str()]);
        args.extend([self.intersite.as_str(), node.container.as_str()]);
        match docker(&with_ip).await {
            Ok(_) => {}
            Err(e) if docker::fixed_ip_refused(e.stderr()) => {
                docker(&args).await?;
            }
            Err(e) => return Err(e.into()),
        }
        // The default route removed when it was cut: back through its site network.
        let c = inspect_one(&node.container).await?;
        let pid = c.state.pid.to_string();
        let routes = docker::run("nsenter", &["-t", &pid, "-n", "ip", "route", "show", "default"]).await?;
        if routes.trim().is_empty() {
            let gateway = c.network(&node.site_network).map(|a| a.gateway.clone()).unwrap_or_default();
            if gateway.is_empty() {
                return Err(BackendError::new(format!(
                    "node {id} ({}): no gateway on {} to restore its default route",
                    node.name, node.site_network
                )));
            }
            docker::run("nsenter", &["-t", &pid, "-n", "ip", "route", "add", "default", "via", &gateway])
                .await?;
        }
        self.refresh(id).await?;
        self.reapply_latency(id).await
    }
}
