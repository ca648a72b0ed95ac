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
use std::path::Path;

pub async fn run(table: &GroupBuysTable, command: TemplateCommand) -> Result<Outcome, AdminError> {
    match command {
        TemplateCommand::Create { file } => create(table, &file).await,
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

/// Checks the file, refuses a first round of that date that is not the template's, stores the
/// template and opens its first round. Run again, it opens the stored template's first round
/// if an earlier run stopped before, and says the template exists.
async fn create(table: &GroupBuysTable, file: &Path) -> Result<Outcome, AdminError> {
    let problem =
        |e: &dyn std::fmt::Display| AdminError::Problem(format!("{}: {e}", file.display()));
    let text = std::fs::read_to_string(file)
        .map_err(|e| AdminError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let parsed: TemplateFile = toml::from_str(&text).map_err(|e| problem(&e))?;
    let now = crate::now()?;
    let template = parsed.template(now).map_err(|e| problem(&e))?;
    let first = template
        .instance(now, now)
        .ok_or_else(|| problem(&"no cutoff ahead"))?;
    if let Some(existing) = table.rounds.get(&first.round_id).await? {
        if existing.template.as_ref() != Some(&template.template_id) {
            return Err(problem(&format!(
                "round {} exists and is not this template's: nothing written",
                first.round_id
            )));
        }
    }
    if !table.rounds.create_template(&template).await? {
        if let Some(stored) = table.rounds.template(&template.template_id).await? {
            if let Some(first) = stored.instance(now, now).filter(|_| stored.active) {
                table.rounds.create(&first).await?;
            }
        }
        return Err(AdminError::Problem(format!(
            "template {} exists already: its first round is open; nothing else written",
            template.template_id
        )));
    }
    let opened = table.rounds.create(&first).await?;
    let text = format!(
        "template {} stored; first round {} ({}), cutoff {}\n",
        template.template_id,
        first.round_id,
        if opened { "opened" } else { "open already" },
        first.cutoff_at.shanghai_rfc3339()
    );
    Ok(Outcome {
        text,
        json: json!({ "template": template, "first_round": first.round_id, "opened": opened }),
        problem: false,
    })
}
