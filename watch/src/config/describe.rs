//! The effective configuration as TOML-like text (`lpwatch --check-config`), every default
//! filled in; upstreams appear by label with their URL redacted to scheme, host and port.

use super::Config;
use crate::units::{format_duration, Eth};
use std::fmt::Write as _;

impl Config {
    /// The effective configuration, upstream URLs redacted.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "network = {:?}", self.network);
        if let Some(id) = self.chain_id {
            let _ = writeln!(s, "chain_id = {id}");
        }
        let _ = writeln!(s, "\n[listen]\nhttp = \"{}\"", self.http_listen);
        match self.rpc_listen {
            Some(a) => {
                let _ = writeln!(s, "rpc = \"{a}\"");
            }
            None => s.push_str("rpc = \"off\"\n"),
        }
        let _ = writeln!(
            s,
            "\n[livepeer]\ncli_url = \"{}\"\norchestrator_address = {}\nmin_transcoders = {}\nrelay_metrics = {}",
            self.livepeer.cli_url,
            self.livepeer.orchestrator.map_or("\"\"  # read from the CLI's /ethAddr".into(), |a| format!("\"{a}\"")),
            self.livepeer.min_transcoders,
            self.livepeer.relay_metrics
        );
        if let Some(c) = self.contracts {
            let _ = writeln!(
                s,
                "\n[contracts]\nrounds_manager = \"{}\"\nbonding_manager = \"{}\"",
                c.rounds_manager, c.bonding_manager
            );
        }
        let r = &self.rpc;
        let _ = writeln!(
            s,
            "\n[rpc]\nprobe_interval = \"{}\"\nprobe_timeout = \"{}\"\nrequest_timeout = \"{}\"\nmax_request_bytes = {}\nmax_response_bytes = {}\nmax_concurrent = {}",
            format_duration(r.probe_interval),
            format_duration(r.probe_timeout),
            format_duration(r.request_timeout),
            r.max_request_bytes,
            r.max_response_bytes,
            r.max_concurrent
        );
        for u in &r.upstreams {
            let _ =
                writeln!(s, "[[rpc.upstream]]\nname = {:?}\nurl = \"{}/...\"  # redacted", u.name, u.url.redacted());
        }
        let c = &self.checks;
        let crit: Vec<_> = c.critical.iter().map(|c| format!("{:?}", c.as_str())).collect();
        let _ = writeln!(
            s,
            "\n[checks]\ninterval = \"{}\"\ntimeout = \"{}\"\ncritical = [{}]\nreward_grace = \"{}\"\nmin_eth_balance = \"{}\"",
            format_duration(c.interval),
            format_duration(c.timeout),
            crit.join(", "),
            format_duration(c.reward_grace),
            Eth(c.min_eth_balance)
        );
        if let Some(w) = c.warn_eth_balance {
            let _ = writeln!(s, "warn_eth_balance = \"{}\"", Eth(w));
        }
        let _ = writeln!(s, "max_head_age = \"{}\"", format_duration(c.max_head_age));
        if let Some(sh) = &self.share {
            let quoted = |items: Vec<String>| items.iter().map(|i| format!("{i:?}")).collect::<Vec<_>>().join(", ");
            let _ = writeln!(
                s,
                "\n[share]\nmmdb = {:?}\ncell = \"{}\"\nmin_gateways = {}\nservice_port = {}\nignore = [{}]\nextras = [{}]",
                sh.mmdb.display().to_string(),
                sh.cell,
                sh.min_gateways,
                sh.service_port,
                quoted(sh.ignore.iter().map(|n| n.to_string()).collect()),
                quoted(sh.extras.iter().map(|e| e.as_str().to_string()).collect())
            );
            match &sh.endpoint {
                Some(url) => {
                    let _ = writeln!(s, "endpoint = \"{}/...\"  # redacted", url.redacted());
                }
                None => s.push_str("# endpoint unset: nothing is sent\n"),
            }
            let _ = writeln!(
                s,
                "interval = \"{}\"\nqueue_dir = {:?}\nqueue_max_bytes = {}\nkey_file = {:?}",
                format_duration(sh.interval),
                sh.queue_dir.display().to_string(),
                sh.queue_max_bytes,
                sh.key_file.display().to_string()
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Overrides};

    #[test]
    fn description_reads_back_as_the_same_config() {
        let text =
            "network = \"devnet\"\nchain_id = 1337\n[[rpc.upstream]]\nname = \"a\"\nurl = \"http://127.0.0.1:8545\"\n\
                    [checks]\ninterval = \"1500ms\"\nreward_grace = \"90m\"\nwarn_eth_balance = \"0.5\"\n\
                    [share]\nmmdb = \"/geo.mmdb\"\ncell = \"country\"\nextras = [\"success_rate\", \"transcoders\"]\n";
        let c = Config::from_toml(text, &Overrides::default()).unwrap();
        let d = c.describe();
        assert!(d.contains("interval = \"1s 500ms\"") && d.contains("reward_grace = \"1h 30m\""), "{d}");
        assert!(d.contains("min_gateways = 3") && d.contains("\"fc00::/7\"") && d.contains("\"success_rate\"]"), "{d}");
        // Everything but the redacted upstream URL is config text that gives the same values.
        let upstream = ["[[rpc.upstream]]", "name =", "url ="];
        let kept: String =
            d.lines().filter(|l| !upstream.iter().any(|u| l.starts_with(u))).map(|l| format!("{l}\n")).collect();
        let again = format!("{kept}[[rpc.upstream]]\nname = \"a\"\nurl = \"http://127.0.0.1:8545\"\n");
        let again = Config::from_toml(&again, &Overrides::default()).unwrap_or_else(|e| panic!("{e}\n{kept}"));
        assert_eq!(again.describe(), d);
    }
}
