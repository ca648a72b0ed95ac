//! `devstack`: serves template.yaml locally (see the crate docs). Started by `make up` and by
//! `make test`; needs `AWS_ENDPOINT_URL_DYNAMODB` and `AWS_ENDPOINT_URL_SQS`.

use devstack::emulator::Kind;
use devstack::{run, Config};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str =
    "usage: devstack [--template template.yaml] [--port 3000] [--emulator cargo-lambda|sam]
                [--emulator-port 9000] [--external-emulator] [--env-file infra/local/local.env]
                [--bind 127.0.0.1] [--container-host <docker bridge gateway>]
                [--stack-name linli-local] [--parameter Name=Value]... [--retry-after-seconds 1]";

fn parse(args: Vec<String>) -> Result<Config, String> {
    let mut config = Config {
        root: std::env::current_dir().map_err(|e| e.to_string())?,
        template: PathBuf::from("template.yaml"),
        port: 3000,
        bind: "127.0.0.1".into(),
        container_host: None,
        stack_name: "linli-local".into(),
        parameters: BTreeMap::from([("Stage".to_owned(), "local".to_owned())]),
        emulator: Kind::CargoLambda,
        emulator_port: 9000,
        external_emulator: false,
        env_file: None,
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "cn-north-1".into()),
        retry_after: Duration::from_secs(1),
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--template" => config.template = PathBuf::from(value("--template")?),
            "--port" => {
                config.port = value("--port")?
                    .parse()
                    .map_err(|_| "--port: not a port".to_owned())?
            }
            "--emulator" => {
                let v = value("--emulator")?;
                config.emulator = Kind::parse(&v)
                    .ok_or_else(|| format!("--emulator: cargo-lambda or sam, not {v}"))?;
            }
            "--emulator-port" => {
                config.emulator_port = value("--emulator-port")?
                    .parse()
                    .map_err(|_| "--emulator-port: not a port".to_owned())?;
            }
            "--external-emulator" => config.external_emulator = true,
            "--bind" => config.bind = value("--bind")?,
            "--container-host" => config.container_host = Some(value("--container-host")?),
            "--env-file" => config.env_file = Some(PathBuf::from(value("--env-file")?)),
            "--stack-name" => config.stack_name = value("--stack-name")?,
            "--parameter" => {
                let v = value("--parameter")?;
                let (k, val) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--parameter: expected Name=Value, got {v}"))?;
                config.parameters.insert(k.to_owned(), val.to_owned());
            }
            "--retry-after-seconds" => {
                let secs: u64 = value("--retry-after-seconds")?
                    .parse()
                    .map_err(|_| "--retry-after-seconds: not a number".to_owned())?;
                config.retry_after = Duration::from_secs(secs.max(1));
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DEVSTACK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,aws=warn,hyper=warn")),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("load-demo") {
        let (Some(file), Some(base)) = (args.get(1), args.get(2)) else {
            eprintln!("usage: devstack load-demo <demo.json> <devstack URL>");
            return ExitCode::from(2);
        };
        return match devstack::demo::load(file, base).await {
            Ok(lines) => {
                for line in lines {
                    println!("[demo] {line}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("[demo] failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match parse(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let template = config.template.display().to_string();
    let running = match run(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("[devstack] cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "[devstack] {template} served on http://{} in {:.1} s ({} functions); health: http://{}/_local/health",
        running.address,
        running.started_in.as_secs_f64(),
        running.functions.len(),
        running.address
    );
    for f in &running.functions {
        for (event, route) in &f.routes {
            println!(
                "[devstack]   {} {} → {} ({event})",
                route.method, route.path, f.logical_id
            );
        }
        for q in &f.queues {
            println!(
                "[devstack]   SQS {} → {} ({})",
                q.queue_url, f.logical_id, q.event
            );
        }
        for s in &f.schedules {
            println!(
                "[devstack]   POST /_local/schedules/{}/{} ({})",
                f.logical_id, s.event, s.expression
            );
        }
    }
    let mut emulator = running.emulator;
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("[devstack] cannot listen for SIGTERM: {e}");
                return ExitCode::FAILURE;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => println!("[devstack] stopping"),
        _ = terminate.recv() => println!("[devstack] terminated: stopping"),
        status = async { match emulator.as_mut() { Some(c) => c.wait().await.ok(), None => std::future::pending().await } } => {
            eprintln!("[devstack] the emulator exited ({status:?}); stopping");
            if let Some(child) = emulator.as_mut() {
                devstack::emulator::stop(child).await;
            }
            return ExitCode::FAILURE;
        }
        _ = running.server => eprintln!("[devstack] HTTP server stopped"),
    }
    if let Some(child) = emulator.as_mut() {
        devstack::emulator::stop(child).await;
    }
    ExitCode::SUCCESS
}
