//! `linli-admin round template create <file.toml> | list | stop <id>`: recurring group-buy
//! rounds. `create` checks every field first (nothing is written when one is wrong), refuses an
//! id in use, stores the template and opens its first round (`<template>-<YYYYMMDD>`); each
//! cutoff of a round then opens the next while the template is active. `stop` ends that.

use crate::cli::TemplateCommand;
use crate::output::{Outcome, Table};
use crate::tables::GroupBuysTable;
use crate::AdminError;
use linli::groupbuy::template::TemplateFile;
use linli::ids::TemplateId;
use serde_json::json;

pub async fn run(table: &GroupBuysTable, command: TemplateCommand) -> Result<Outcome, AdminError> {
    match command {
        TemplateCommand::Create { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| AdminError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let parsed: TemplateFile = toml::from_str(&text)
                .map_err(|e| AdminError::Problem(format!("{}: {e}", file.display())))?;
            let now = crate::now()?;
            let template = parsed
                .template(now)
                .map_err(|e| AdminError::Problem(format!("{}: {e}", file.display())))?;
            let first = template.instance(now, now).ok_or_else(|| {
                AdminError::Problem(format!("{}: no cutoff ahead", file.display()))
            })?;
            if !table.rounds.create_template(&template).await? {
                return Err(AdminError::Problem(format!(
                    "template {} exists already: nothing written",
                    template.template_id
                )));
            }
            // A round of that date made by hand keeps its place: the template goes on from it.
            let opened = table.rounds.create(&first).await?;
            let text = format!(
                "template {} stored; first round {} ({}), cutoff {}\n",
                template.template_id,
                first.round_id,
                if opened { "opened" } else { "existed already" },
                first.cutoff_at.shanghai_rfc3339()
            );
            Ok(Outcome {
                text,
                json: json!({ "template": template, "first_round": first.round_id, "opened": opened }),
                problem: false,
            })
        }
        TemplateCommand::List => {
            let templates = table.rounds.templates().await?;
            let mut out = Table::new(&[
                "template",
                "store",
                "community",
                "weekdays",
                "cutoff",
                "active",
            ]);
            for t in &templates {
                let minutes = t.recurrence.cutoff_minutes;
                out.row(vec![
                    t.template_id.to_string(),
                    t.store_id.to_string(),
                    t.community.clone(),
                    format!("{:?}", t.recurrence.weekdays),
                    format!("{:02}:{:02}", minutes / 60, minutes % 60),
                    if t.active { "yes" } else { "stopped" }.into(),
                ]);
            }
            Ok(Outcome {
                text: out.render(),
                json: json!({ "templates": templates }),
                problem: false,
            })
        }
        TemplateCommand::Stop { template_id } => {
            let id = TemplateId::parse(&template_id)
                .map_err(|_| AdminError::Usage(format!("{template_id:?} is not a template id")))?;
            if !table.rounds.stop_template(&id).await? {
                return Err(AdminError::Problem(format!("no template {id}")));
            }
            Ok(Outcome {
                text: format!("template {id} stopped: no further rounds open\n"),
                json: json!({ "template": id, "active": false }),
                problem: false,
            })
        }
    }
}
