//! The `lpwatch` binary: parse flags, load and validate the config, run until signalled; or run the
//! `keystore-init`, `probe`, `share` (`--dry-run`, `--remote-write`, `--sign-in`) subcommand. Every failure becomes one clear message on stderr and a non-zero exit.

use clap::Parser;
use lpwatch::cli::{Args, Command, ShareArgs};
use lpwatch::config::Config;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();

    if let Some(Command::KeystoreInit(init)) = &args.command {
        return match lpwatch::keystore_init::run(init) {
            Ok(outcome) => {
                println!("{outcome}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lpwatch keystore-init: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Probe(p)) = &args.command {
        return match lpwatch::probe::run(&p.url, p.timeout) {
            Ok(body) => {
                println!("{body}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                if let Some(body) = e.body() {
                    println!("{body}");
                }
                eprintln!("lpwatch probe: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Share(ShareArgs { remote_write: Some(url), .. })) = &args.command {
        return match lpwatch::share::endpoint_url(url) {
            Ok(url) => {
                print!("{}", lpwatch::share::remote_write_config(&url));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lpwatch share --remote-write: {e}");
                ExitCode::from(2)
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lpwatch: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cfg = match Config::load(args.config.as_deref(), &args.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lpwatch: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        print!("{}", cfg.describe());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Share(ShareArgs { sign_in: Some(url), .. })) = &args.command {
        let signed = match lpwatch::share::endpoint_url(url) {
            Ok(url) => runtime.block_on(lpwatch::share::sign_in(&cfg, &url)),
            Err(e) => Err(e),
        };
        return match signed {
            Ok(answer) => {
                println!("{}", answer.trim());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lpwatch share --sign-in: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Share(share)) = &args.command {
        return match runtime.block_on(lpwatch::share::dry_run(&cfg, share.window)) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lpwatch share: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match runtime.block_on(lpwatch::app::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lpwatch: {e}");
            ExitCode::FAILURE
        }
    }
}
