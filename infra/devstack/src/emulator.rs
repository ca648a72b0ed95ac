//! Starts the Lambda emulator that runs the functions, as a child process whose log lines are
//! merged into the devstack's output:
//! - `cargo-lambda`: `cargo lambda watch`, each function a local process built from the
//!   workspace, named by its binary; it inherits the functions' environment from us;
//! - `sam`: `sam local start-lambda` (started by `infra/local/sam.sh`, which builds the image and
//!   the generated template), functions named by logical id; the devstack only talks to it.

use crate::stack::Function;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    CargoLambda,
    Sam,
}

impl Kind {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "cargo-lambda" => Some(Self::CargoLambda),
            "sam" => Some(Self::Sam),
            _ => None,
        }
    }

    /// The name the emulator knows a function by.
    pub fn invoke_name(self, function: &Function) -> String {
        match self {
            Self::CargoLambda => function.binary.clone(),
            Self::Sam => function.logical_id.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("functions {a} and {b} set {name} differently; cargo-lambda gives every function one environment")]
    ConflictingEnvironment { name: String, a: String, b: String },
    #[error("could not start {what}: {why}")]
    Spawn { what: String, why: String },
    #[error(
        "{what} did not listen on 127.0.0.1:{port} within {seconds} s; see its log lines above"
    )]
    NotListening {
        what: String,
        port: u16,
        seconds: u64,
    },
}

/// One environment for all functions (cargo-lambda runs them all with the same), refusing
/// conflicting values.
pub fn union_environment(
    functions: &[(Function, BTreeMap<String, String>)],
) -> Result<BTreeMap<String, String>, EmulatorError> {
    let mut union: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (function, env) in functions {
        for (name, value) in env {
            match union.get(name) {
                Some((existing, owner)) if existing != value => {
                    return Err(EmulatorError::ConflictingEnvironment {
                        name: name.clone(),
                        a: owner.clone(),
                        b: function.logical_id.clone(),
                    })
                }
                Some(_) => {}
                None => {
                    union.insert(name.clone(), (value.clone(), function.logical_id.clone()));
                }
            }
        }
    }
    Ok(union.into_iter().map(|(k, (v, _))| (k, v)).collect())
}

/// Prints every line of `stream` prefixed, as part of the merged log.
pub fn pump(prefix: &'static str, stream: impl AsyncRead + Unpin + Send + 'static) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            println!("[{prefix}] {line}");
        }
    });
}

/// Starts `cargo lambda watch` in `root` with `env`, its Invoke API on `port`.
pub fn start_cargo_lambda(
    root: &Path,
    port: u16,
    env: &BTreeMap<String, String>,
) -> Result<Child, EmulatorError> {
    let mut command = Command::new("cargo");
    command
        .args([
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
        ])
        .arg(port.to_string())
        .args(["--concurrency", "4", "--color", "never"])
        .current_dir(root)
        .envs(env);
    spawn(
        command,
        "lambda",
        "cargo lambda watch (is cargo-lambda installed? `make install` puts it in .local/venv/bin)",
    )
}

/// Starts `command` in its own process group (so stopping it also stops the function processes
/// it started), its output merged into ours under `prefix`.
fn spawn(mut command: Command, prefix: &'static str, what: &str) -> Result<Child, EmulatorError> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .map_err(|e| EmulatorError::Spawn {
            what: what.to_owned(),
            why: e.to_string(),
        })?;
    if let Some(out) = child.stdout.take() {
        pump(prefix, out);
    }
    if let Some(err) = child.stderr.take() {
        pump(prefix, err);
    }
    Ok(child)
}

/// Waits until something listens on 127.0.0.1:`port`.
pub async fn wait_listening(what: &str, port: u16, limit: Duration) -> Result<(), EmulatorError> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(EmulatorError::NotListening {
        what: what.to_owned(),
        port,
        seconds: limit.as_secs(),
    })
}

/// Stops `child` and every process of its group: TERM, then KILL after 10 s (SAM CLI removes
/// its warm containers on TERM, which takes a few seconds).
pub async fn stop(child: &mut Child) {
    let Some(pid) = child.id() else { return };
    let group = format!("-{pid}");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", "--", &group])
        .status();
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .status();
        let _ = child.wait().await;
    }
}

/// The image `infra/local/sam.sh` builds for SAM CLI (the official ones cannot be pulled here).
pub const SAM_IMAGE: &str = "linli-lambda-local:x86_64";

/// Writes what SAM CLI needs into `dir`: a copy of the template whose functions point at the
/// built binaries (`functions/<LogicalId>/bootstrap`, x86_64, no build metadata), and each
/// function's environment (`env.json`, for `--env-vars`). Written for either emulator, so that
/// `make invoke` can use it while the stack runs.
pub fn prepare_sam(
    root: &Path,
    template_text: &str,
    dir: &Path,
    functions: &[(Function, BTreeMap<String, String>)],
) -> Result<(), EmulatorError> {
    use serde_yaml_ng::{Mapping, Value};
    let fail = |what: &str, why: String| EmulatorError::Spawn {
        what: what.to_owned(),
        why,
    };
    let mut doc: Value = serde_yaml_ng::from_str(template_text)
        .map_err(|e| fail("the SAM template", e.to_string()))?;
    let arch = Value::Sequence(vec![Value::String("x86_64".into())]);
    if let Some(globals) = doc
        .get_mut("Globals")
        .and_then(|g| g.get_mut("Function"))
        .and_then(Value::as_mapping_mut)
    {
        globals.remove("CodeUri");
        globals.insert("Architectures".into(), arch.clone());
    }
    std::fs::create_dir_all(dir.join("functions"))
        .map_err(|e| fail("the SAM folder", e.to_string()))?;
    let mut env_json = serde_json::Map::new();
    for (function, env) in functions {
        let Some(resource) = doc
            .get_mut("Resources")
            .and_then(|r| r.get_mut(function.logical_id.as_str()))
            .and_then(Value::as_mapping_mut)
        else {
            continue;
        };
        resource.remove("Metadata");
        let props = resource
            .entry("Properties".into())
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if let Some(props) = props.as_mapping_mut() {
            props.insert(
                "CodeUri".into(),
                Value::String(format!("functions/{}", function.logical_id)),
            );
            props.insert("Architectures".into(), arch.clone());
            // SAM CLI only sets variables the template declares: declare the whole environment.
            let vars: Mapping = env
                .iter()
                .map(|(k, v)| (Value::String(k.clone()), Value::String(v.clone())))
                .collect();
            let mut environment = Mapping::new();
            environment.insert("Variables".into(), Value::Mapping(vars));
            props.insert("Environment".into(), Value::Mapping(environment));
        }
        let code = dir.join("functions").join(&function.logical_id);
        std::fs::create_dir_all(&code).map_err(|e| fail("the SAM folder", e.to_string()))?;
        let built = root.join("target/debug").join(&function.binary);
        let bootstrap = code.join("bootstrap");
        let _ = std::fs::remove_file(&bootstrap);
        if built.exists() && std::fs::hard_link(&built, &bootstrap).is_err() {
            std::fs::copy(&built, &bootstrap).map_err(|e| fail("a bootstrap", e.to_string()))?;
        }
        env_json.insert(function.logical_id.clone(), serde_json::json!(env));
    }
    let text =
        serde_yaml_ng::to_string(&doc).map_err(|e| fail("the SAM template", e.to_string()))?;
    std::fs::write(dir.join("template.yaml"), text)
        .map_err(|e| fail("the SAM template", e.to_string()))?;
    let env_text =
        serde_json::to_string_pretty(&env_json).map_err(|e| fail("env.json", e.to_string()))?;
    std::fs::write(dir.join("env.json"), env_text).map_err(|e| fail("env.json", e.to_string()))?;
    Ok(())
}

/// Starts `sam local start-lambda` on the prepared `dir`, its Invoke API on `port`. Containers
/// reach DynamoDB Local, moto and the stand-ins through Docker's bridge (see `--container-host`).
pub fn start_sam(dir: &Path, port: u16) -> Result<Child, EmulatorError> {
    let mut command = Command::new("sam");
    command
        .args(["local", "start-lambda", "--template"])
        .arg(dir.join("template.yaml"))
        .arg("--env-vars")
        .arg(dir.join("env.json"))
        .args(["--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args([
            "--warm-containers",
            "EAGER",
            "--invoke-image",
            SAM_IMAGE,
            "--skip-pull-image",
        ])
        .current_dir(dir)
        .env("SAM_CLI_TELEMETRY", "0");
    spawn(command, "sam", "sam local start-lambda (is aws-sam-cli installed? `make install` puts it in .local/venv/bin)")
}
