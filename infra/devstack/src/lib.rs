//! The devstack (DESIGN §8): serves `template.yaml` locally around a Lambda emulator. It creates
//! the template's tables and queues, gives the emulator each function's environment, and adds
//! what no emulator does — HttpApi routes, SQS event sources, schedules, a controllable clock and
//! platform stand-ins — talking to the functions only through the Lambda Invoke API.

pub mod clock;
pub mod demo;
pub mod emulator;
pub mod envfile;
pub mod http_api;
pub mod invoke;
pub mod provision;
pub mod schedules;
pub mod secrets;
pub mod server;
pub mod sqs_source;
pub mod stack;
pub mod standins;
pub mod template;

mod run;

pub use run::{run, Config, DevstackError, Running};
