//! The command line: every flag has an `LPWATCH_*` twin and wins over the config file.
//! RPC upstream URLs (which often carry API keys) are never flags: see `--help`.
//! Three subcommands do a job instead of watching: `keystore-init` prepares livepeer's Ethereum
//! account, `probe` is a container health check, `share` prints what sharing sends (or the
//! remote_write block for it, or signs in at a collector). The collector of shares is
//! its own program, `lpshare-collector`.

use crate::config::Overrides;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

const ABOUT: &str = "Watches a Livepeer node: health, metrics, reward() and ETH balance, and \
fails its Ethereum RPC over between several upstreams.";

const LONG_ABOUT: &str = "\
Watches a Livepeer node: health, metrics, reward() and ETH balance, and fails its Ethereum RPC \
over between several upstreams.

lpwatch serves two things on loopback by default:
  http://127.0.0.1:7936/healthz   200 only when every critical check is ok; JSON with every check
  http://127.0.0.1:7936/metrics   lpwatch_* gauges + livepeer's own /metrics, relayed read-only
  http://127.0.0.1:7937/          a JSON-RPC proxy: start livepeer with -ethUrl http://127.0.0.1:7937

Checks: livepeer (CLI /status), reward (last reward round vs current round, read on chain with
eth_call, falling back to the CLI API), eth_balance, chain_head (age, eth_syncing), chain_id, rpc.
Each is ok, degraded or failing, with a reason.";

const AFTER_HELP: &str = "\
Configuration comes from one TOML file (--config), overridden by LPWATCH_* variables, overridden
by flags. Unknown keys are errors. A minimal file for an Arbitrum orchestrator:

    network = \"arbitrum-one-mainnet\"
    [[rpc.upstream]]
    name = \"primary\"
    url_file = \"/run/credentials/lpwatch.service/rpc-primary\"   # keeps the API key out of ps
    [[rpc.upstream]]
    name = \"fallback\"
    url = \"https://arb1.arbitrum.io/rpc\"
    [checks]
    min_eth_balance = \"0.02\"
    reward_grace = \"2h\"

RPC upstreams are never given as flags (URLs often hold API keys, and flags show in ps): use
[[rpc.upstream]] url / url_file in the file, or LPWATCH_RPC_UPSTREAMS=url1,url2 (replaces the
file's list). `lpwatch --check-config` prints the effective configuration with URLs redacted.

Under systemd use Type=notify and WatchdogSec=: lpwatch sends READY=1 once serving and
WATCHDOG=1 only while its check loop completes passes on time.

Full reference: watch/README.md.";

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(name = "lpwatch", version, about = ABOUT, long_about = LONG_ABOUT, after_long_help = AFTER_HELP)]
pub struct Args {
    /// TOML config file.
    #[arg(short, long, env = "LPWATCH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Network, as livepeer's -network: arbitrum-one-mainnet, offchain, or a custom name
    /// (which then needs --chain-id and [contracts]).
    #[arg(long, env = "LPWATCH_NETWORK", value_name = "NAME")]
    pub network: Option<String>,

    /// Expected chain id (implied by known networks).
    #[arg(long, env = "LPWATCH_CHAIN_ID", value_name = "ID")]
    pub chain_id: Option<u64>,

    /// Address for /healthz and /metrics [default: 127.0.0.1:7936].
    #[arg(long, env = "LPWATCH_HTTP_LISTEN", value_name = "IP:PORT")]
    pub http_listen: Option<String>,

    /// Address of the JSON-RPC proxy, or "off" [default: 127.0.0.1:7937].
    #[arg(long, env = "LPWATCH_RPC_LISTEN", value_name = "IP:PORT")]
    pub rpc_listen: Option<String>,

    /// livepeer's CLI API [default: http://127.0.0.1:7935].
    #[arg(long, env = "LPWATCH_LIVEPEER_CLI", value_name = "URL")]
    pub livepeer_cli: Option<String>,

    /// Orchestrator account to watch [default: livepeer's /ethAddr].
    #[arg(long, env = "LPWATCH_ORCHESTRATOR", value_name = "0xADDRESS")]
    pub orchestrator: Option<String>,

    /// Time between check passes, e.g. 15s [default: 15s].
    #[arg(long, env = "LPWATCH_CHECK_INTERVAL", value_name = "DURATION")]
    pub check_interval: Option<String>,

    /// Log filter (error, warn, info, debug, or tracing directives).
    #[arg(long, env = "LPWATCH_LOG", default_value = "info", value_name = "FILTER")]
    pub log: String,

    /// Validate the configuration, print it (URLs redacted) and exit.
    #[arg(long)]
    pub check_config: bool,

    /// Without a subcommand lpwatch watches the node.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What lpwatch does instead of watching.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create livepeer's Ethereum account if its keystore has none (run before livepeer starts).
    ///
    /// go-livepeer v0.9.1 encrypts the account it creates with the -ethPassword PATH when that names a
    /// file, and unlocks with the file's contents, so it never unlocks its own new account. This
    /// creates the account with the file's contents (surrounding whitespace trimmed, as livepeer
    /// reads it) and prints `created account 0x...`; if the keystore already holds an account it
    /// prints that account's address and changes nothing. The password is never printed.
    KeystoreInit(KeystoreInitArgs),
    /// GET a local endpoint once and exit 0 only on a 2xx answer: a health check for containers.
    ///
    /// Prints the body, so `docker inspect` shows why a check failed, e.g.
    /// `lpwatch probe http://127.0.0.1:7936/healthz`. Only plain http on a loopback host.
    Probe(ProbeArgs),
    /// Print what opt-in sharing of network metrics ([share] in the config) would send, or the
    /// remote_write block that sends it from your own Prometheus, and exit.
    ///
    /// A share holds livepeer's current and maximum sessions, the kernel's byte count on the
    /// service port over livepeer's own (where livepeer reports one), and per coarse cell (N-degree
    /// squares, countries or continents, from the operator's GeoLite2 or DB-IP lite database) the
    /// number of connected gateways (one per /24, /64 or geo-database network), their connections
    /// and the transcoded pixels per second. Cells with fewer than share.min_gateways gateways (at
    /// least 3), or with one gateway holding most of their connections, are merged into their
    /// continent, then into "other". No address, stream or gateway identity is in it. Extras are added only when
    /// named in share.extras.
    Share(ShareArgs),
}

/// `lpwatch share` arguments.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["dry_run", "remote_write", "sign_in"])))]
pub struct ShareArgs {
    /// Print the share instead of sending it (lpwatch sends shares itself while it watches,
    /// when share.endpoint is set).
    #[arg(long)]
    pub dry_run: bool,

    /// Print a Prometheus remote_write block that sends the share to URL from your own
    /// Prometheus scraping lpwatch's /metrics: only the shared series, only cell and region labels.
    #[arg(long, value_name = "URL")]
    pub remote_write: Option<String>,

    /// Sign in at the collector at URL with livepeer's account (its challenge, checked to be one,
    /// signed through livepeer's /signMessage) and print the token for its raw series.
    #[arg(long, value_name = "URL")]
    pub sign_in: Option<String>,

    /// Time between the two readings of livepeer's /metrics that give pixels per second.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub window: std::time::Duration,
}

/// `lpwatch probe` arguments.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// The URL, e.g. http://127.0.0.1:7936/healthz.
    #[arg(value_name = "URL")]
    pub url: String,

    /// Give up after this long, e.g. 3s.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: std::time::Duration,
}

/// `lpwatch keystore-init` arguments.
#[derive(Debug, clap::Args)]
pub struct KeystoreInitArgs {
    /// livepeer's keystore directory (<dataDir>/keystore); created mode 0700 if missing.
    #[arg(long, value_name = "DIR")]
    pub keystore: PathBuf,

    /// The file livepeer gets as -ethPassword; its contents, whitespace-trimmed, are the password.
    #[arg(long, value_name = "FILE")]
    pub password_file: PathBuf,

    /// geth's light scrypt cost (N=4096, P=6) instead of the standard one (N=262144, P=1), for slow or
    /// emulated machines; the key file is weaker against password guessing.
    #[arg(long)]
    pub light_kdf: bool,
}

impl Args {
    /// The overrides these arguments (and `LPWATCH_RPC_UPSTREAMS`) make to the file.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            network: self.network.clone(),
            chain_id: self.chain_id,
            http_listen: self.http_listen.clone(),
            rpc_listen: self.rpc_listen.clone(),
            livepeer_cli: self.livepeer_cli.clone(),
            orchestrator: self.orchestrator.clone(),
            check_interval: self.check_interval.clone(),
            upstreams: std::env::var("LPWATCH_RPC_UPSTREAMS").ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn help_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn no_subcommand_is_the_watch() {
        assert!(Args::try_parse_from(["lpwatch", "--check-config"]).unwrap().command.is_none());
    }

    #[test]
    fn keystore_init_flags() {
        let args =
            Args::try_parse_from(["lpwatch", "keystore-init", "--keystore", "/k", "--password-file", "/p"]).unwrap();
        let Some(Command::KeystoreInit(init)) = args.command else { panic!("no keystore-init: {args:?}") };
        assert_eq!((init.keystore, init.password_file, init.light_kdf), ("/k".into(), "/p".into(), false));
        assert!(Args::try_parse_from(["lpwatch", "keystore-init", "--keystore", "/k"]).is_err());
    }

    #[test]
    fn probe_takes_a_url_and_a_timeout() {
        let args = Args::try_parse_from(["lpwatch", "probe", "http://127.0.0.1:1/", "--timeout", "2s"]).unwrap();
        let Some(Command::Probe(p)) = args.command else { panic!("no probe: {args:?}") };
        assert_eq!((p.url.as_str(), p.timeout.as_secs()), ("http://127.0.0.1:1/", 2));
    }
}
