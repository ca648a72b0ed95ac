//! Wiring: template → provisioned resources → emulator → pollers → HTTP server.

use crate::clock::Clock;
use crate::emulator::{self, Kind};
use crate::http_api::RouteEntry;
use crate::invoke::Invoker;
use crate::server::{self, Inner};
use crate::sqs_source::Poller;
use crate::stack::{self, Function};
use crate::standins::{self, Callbacks};
use crate::template::{Resolver, Template, TemplateError};
use crate::{envfile, provision};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::Child;

pub struct Config {
    /// The repository root: where cargo-lambda runs.
    pub root: PathBuf,
    pub template: PathBuf,
    pub port: u16,
    /// The address the HTTP server binds (127.0.0.1; 0.0.0.0 when containers must reach it).
    pub bind: String,
    /// How functions in containers (SAM CLI) reach the host: `127.0.0.1` in their environment is
    /// replaced by this address (the Docker bridge's gateway).
    pub container_host: Option<String>,
    pub stack_name: String,
    pub parameters: BTreeMap<String, String>,
    pub emulator: Kind,
    pub emulator_port: u16,
    /// Do not start an emulator: one is already serving the Invoke API on `emulator_port`.
    pub external_emulator: bool,
    pub env_file: Option<PathBuf>,
    pub region: String,
    /// How long a failed SQS message stays invisible before its retry, locally.
    pub retry_after: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum DevstackError {
    #[error("cannot read {path}: {why}")]
    Read { path: String, why: String },
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Provision(#[from] provision::ProvisionError),
    #[error(transparent)]
    Emulator(#[from] emulator::EmulatorError),
    #[error(transparent)]
    EnvFile(#[from] envfile::EnvFileError),
    #[error("{0} is not set: the devstack only talks to local components")]
    MissingEndpoint(&'static str),
    #[error("port {port} is taken ({what}): stop what uses it or choose another port")]
    PortTaken { port: u16, what: &'static str },
}

/// A running devstack.
pub struct Running {
    pub address: SocketAddr,
    pub functions: Vec<Function>,
    pub started_in: Duration,
    pub server: tokio::task::JoinHandle<()>,
    /// The emulator we started (killed when dropped).
    pub emulator: Option<Child>,
}

fn read(path: &std::path::Path) -> Result<String, DevstackError> {
    std::fs::read_to_string(path).map_err(|e| DevstackError::Read {
        path: path.display().to_string(),
        why: e.to_string(),
    })
}

/// What every function gets besides the template's variables: the local endpoints and
/// throwaway credentials, so a function can never reach real AWS from here.
fn local_environment(region: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for name in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"] {
        if let Ok(v) = std::env::var(name) {
            env.insert(name.to_owned(), v);
        }
    }
    env.insert("AWS_REGION".into(), region.to_owned());
    env.insert("AWS_DEFAULT_REGION".into(), region.to_owned());
    env.insert(
        "AWS_ACCESS_KEY_ID".into(),
        std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "local".into()),
    );
    env.insert(
        "AWS_SECRET_ACCESS_KEY".into(),
        std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "local".into()),
    );
    env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    if let Some(url) = crate::secrets::endpoint() {
        env.insert("AWS_ENDPOINT_URL_SECRETS_MANAGER".into(), url);
    }
    env
}

pub async fn run(config: Config) -> Result<Running, DevstackError> {
    let started = Instant::now();
    for name in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"] {
        if std::env::var(name).map(|v| v.is_empty()).unwrap_or(true) {
            return Err(DevstackError::MissingEndpoint(name));
        }
    }
    let listener = tokio::net::TcpListener::bind((config.bind.as_str(), config.port))
        .await
        .map_err(|_| DevstackError::PortTaken {
            port: config.port,
            what: "devstack HTTP",
        })?;
    if !config.external_emulator
        && tokio::net::TcpStream::connect(("127.0.0.1", config.emulator_port))
            .await
            .is_ok()
    {
        return Err(DevstackError::PortTaken {
            port: config.emulator_port,
            what: "Lambda emulator",
        });
    }
    let address = listener.local_addr().map_err(|e| DevstackError::Read {
        path: "listener".into(),
        why: e.to_string(),
    })?;

    let template = Template::parse(&read(&config.template)?)?;
    let mut resolver = Resolver::new(
        &template,
        &config.stack_name,
        &config.region,
        "123456789012",
        &config.parameters,
    )?;
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(config.region.clone()))
        .load()
        .await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    stack::register_known(&template, &mut resolver)?;
    let queues = provision::queues(&template, &mut resolver, &sqs).await?;
    let tables = provision::tables(&template, &resolver, &dynamodb).await?;
    let functions = stack::functions(&template, &resolver)?;
    tracing::info!(tables = ?tables, queues = ?queues, functions = functions.len(), "template provisioned");

    let mut file_env = match &config.env_file {
        Some(path) => envfile::with_process_overrides(envfile::parse(
            &path.display().to_string(),
            &read(path)?,
        )?),
        None => BTreeMap::new(),
    };
    // local.env points the outbound bases at the stand-ins on the default port; a devstack on
    // another port (the tests) points them at itself.
    if config.port != 3000 {
        let own = format!("http://127.0.0.1:{}", config.port);
        for value in file_env.values_mut() {
            *value = value.replace("http://127.0.0.1:3000", &own);
        }
    }
    let secrets = crate::secrets::provision(&template, &resolver, &aws, &file_env).await?;
    if !secrets.is_empty() {
        tracing::info!(secrets = ?secrets, "secrets provisioned with the env file's settings");
    }
    let base = local_environment(&config.region);
    let per_function: Vec<(Function, BTreeMap<String, String>)> = functions
        .iter()
        .map(|f| {
            let mut env = file_env.clone();
            env.extend(base.clone());
            env.extend(f.environment.clone());
            if let (Kind::Sam, Some(host)) = (config.emulator, &config.container_host) {
                for value in env.values_mut() {
                    *value = value.replace("127.0.0.1", host).replace("localhost", host);
                }
            }
            (f.clone(), env)
        })
        .collect();

    let template_text = read(&config.template)?;
    let sam_dir = config.root.join(".local/sam").join(&config.stack_name);
    emulator::prepare_sam(&config.root, &template_text, &sam_dir, &per_function)?;
    let child = if config.external_emulator {
        emulator::wait_listening(
            "the Lambda emulator",
            config.emulator_port,
            Duration::from_secs(300),
        )
        .await?;
        None
    } else {
        let (child, what, limit) = match config.emulator {
            Kind::CargoLambda => {
                let env = emulator::union_environment(&per_function)?;
                (
                    emulator::start_cargo_lambda(&config.root, config.emulator_port, &env)?,
                    "cargo lambda watch",
                    60,
                )
            }
            Kind::Sam => (
                emulator::start_sam(&sam_dir, config.emulator_port)?,
                "sam local start-lambda",
                600,
            ),
        };
        emulator::wait_listening(what, config.emulator_port, Duration::from_secs(limit)).await?;
        Some(child)
    };

    let clock = Arc::new(Clock::default());
    let invoker = Arc::new(Invoker::new(
        format!("http://127.0.0.1:{}", config.emulator_port),
        Duration::from_secs(5),
    ));
    let invoke_names: Vec<String> = functions
        .iter()
        .map(|f| config.emulator.invoke_name(f))
        .collect();
    let mut routes = Vec::new();
    for (i, f) in functions.iter().enumerate() {
        for (_, route) in &f.routes {
            routes.push(RouteEntry::new(i, &route.method, &route.path));
        }
        for source in &f.queues {
            let poller = Poller {
                function_logical_id: f.logical_id.clone(),
                invoke_name: invoke_names[i].clone(),
                timeout_s: f.timeout_s,
                source: source.clone(),
                region: config.region.clone(),
                retry_after: config.retry_after,
            };
            tokio::spawn(poller.run(sqs.clone(), invoker.clone()));
        }
    }
    let callbacks = Callbacks::new(format!("http://127.0.0.1:{}", address.port()));
    let settings = Arc::new(file_env.clone());
    let mut stand_in_router = axum::Router::new();
    let mut stand_in_names = Vec::new();
    for stand_in in standins::all() {
        stand_in_names.push(stand_in.name());
        stand_in_router = stand_in_router.merge(standins::mount(
            stand_in.as_ref(),
            clock.clone(),
            callbacks.clone(),
            settings.clone(),
        ));
    }
    let app = Arc::new(Inner {
        functions: functions.clone(),
        invoke_names,
        routes,
        clock,
        invoker,
        dynamodb,
        sqs,
        region: config.region.clone(),
        account: "123456789012".into(),
        emulator_port: config.emulator_port,
        stand_ins: stand_in_names,
        resources: resolver
            .resources
            .iter()
            .map(|(k, p)| (k.clone(), p.reference.clone()))
            .collect(),
    });
    let router = server::router(app, stand_in_router);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok(Running {
        address,
        functions,
        started_in: started.elapsed(),
        server,
        emulator: child,
    })
}
