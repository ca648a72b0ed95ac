//! `linli-admin rules show|set|history`: the earn rules operators change weekly without a deploy.
//! `set` reads a TOML file, checks every field (an invalid file is refused, naming the field, and
//! nothing changes), previews what ¥100 earns per tier now under the rules in force and the new
//! ones, and activates the file as the next version — unless someone activated another version
//! since it read the current one (then nothing is written either).

use crate::adjust::text_flag;
use crate::cli::{RulesCommand, RulesSetArgs};
use crate::output::{Outcome, Table};
use crate::tables::ConfigTable;
use crate::AdminError;
use linli::money::{Fen, Points};
use linli::rules::earning::{Channel, EarnLine, EarnRules, Purchase, Tier};
use linli::store::rules::{history, Activated, RulesStore, RulesVersion};
use linli::time::BusinessTime;
use serde_json::{json, Value};

pub async fn run(table: &ConfigTable, command: RulesCommand) -> Result<Outcome, AdminError> {
    match command {
        RulesCommand::Show { version } => show(table, version).await,
        RulesCommand::Set(args) => set(table, args).await,
        RulesCommand::History { limit } => list(table, limit).await,
    }
}

fn summary(version: &RulesVersion) -> Value {
    json!({
        "version": version.version,
        "activated_at": version.activated_at.to_string(),
        "operator": version.operator,
        "reason": version.reason,
    })
}

async fn show(table: &ConfigTable, version: Option<u32>) -> Result<Outcome, AdminError> {
    let found = match version {
        None => Some(table.rules.current().await?),
        Some(v) => table.rules.version(v).await?,
    };
    let Some(found) = found else {
        return Ok(Outcome {
            text: format!(
                "no rules version {} in table {}: see `linli-admin rules history`\n",
                version.unwrap_or_default(),
                table.name
            ),
            json: json!({ "problem": "no_such_version" }),
            problem: true,
        });
    };
    let toml = found
        .earn
        .to_toml()
        .map_err(|e| AdminError::Problem(format!("the stored rules do not print: {e}")))?;
    let mut json = summary(&found);
    json["earn"] = serde_json::to_value(&found.earn).unwrap_or(Value::Null);
    Ok(Outcome {
        text: format!(
            "# earn rules version {} — activated {} by {}: {}\n{toml}",
            found.version, found.activated_at, found.operator, found.reason
        ),
        json,
        problem: false,
    })
}

/// What ¥100 of groceries online earns now, per tier.
fn preview(rules: &EarnRules, now: BusinessTime) -> Vec<(Tier, Points, String)> {
    let lines = [EarnLine {
        category: "grocery",
        cash: Fen::new(10_000),
    }];
    [Tier::Regular, Tier::Silver, Tier::Gold, Tier::Diamond]
        .into_iter()
        .map(|tier| {
            let earned = rules.evaluate(&Purchase {
                at: now,
                store: "",
                channel: Channel::MiniProgram,
                tier,
                lines: &lines,
                earned_today: Points::ZERO,
            });
            (tier, earned.points, earned.explanation)
        })
        .collect()
}

async fn set(table: &ConfigTable, args: RulesSetArgs) -> Result<Outcome, AdminError> {
    let reason = text_flag("--reason", &args.reason, 200)?;
    let operator = text_flag("--operator", &args.operator, 64)?;
    let file = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| AdminError::Usage(format!("cannot read {file} ({e}): nothing changed")))?;
    let rules = EarnRules::from_toml(&text)
        .map_err(|e| AdminError::Usage(format!("{file} is refused — {e}; nothing changed")))?;
    let now = crate::now()?;
    let current = table.rules.current().await?;
    let mut comparison = Table::new(&["tier", "¥100 now", "with the file", "explained"]);
    let before = preview(&current.earn, now);
    for ((tier, old, _), (_, new, why)) in before.iter().zip(preview(&rules, now)) {
        comparison.row(vec![
            tier.name().to_owned(),
            old.value().to_string(),
            new.value().to_string(),
            why,
        ]);
    }
    let mut json = json!({ "current": summary(&current), "file": file });
    // The version is the store's, not the file's: compare the rules themselves.
    let same = EarnRules {
        version: current.version,
        ..rules.clone()
    } == current.earn;
    let verdict = if same {
        json["outcome"] = "unchanged".into();
        format!(
            "{file} is the rules in force (version {}): nothing to activate",
            current.version
        )
    } else if args.dry_run {
        json["outcome"] = "checked".into();
        format!(
            "{file} is valid: it would become version {} (dry run: nothing activated)",
            current.version + 1
        )
    } else {
        match table
            .rules
            .activate(&rules, current.version, &operator, &reason, now)
            .await?
        {
            Activated::Now(version) => {
                json["outcome"] = "activated".into();
                json["version"] = version.into();
                format!("activated as version {version} (was {})", current.version)
            }
            Activated::Moved => {
                json["outcome"] = "moved".into();
                let message = "someone activated another version meanwhile: nothing changed; \
                               review `linli-admin rules show` and set again";
                return Ok(Outcome {
                    text: format!("{message}\n"),
                    json,
                    problem: true,
                });
            }
        }
    };
    Ok(Outcome {
        text: format!("{verdict}\n{}", comparison.render()),
        json,
        problem: false,
    })
}

async fn list(table: &ConfigTable, limit: u16) -> Result<Outcome, AdminError> {
    let versions = history(&table.rules, usize::from(limit.max(1))).await?;
    let mut rows = Table::new(&[
        "version",
        "activated",
        "operator",
        "reason",
        "tiers",
        "campaigns",
    ]);
    for v in &versions {
        let t = &v.earn.tiers;
        rows.row(vec![
            v.version.to_string(),
            v.activated_at.to_string(),
            v.operator.clone(),
            v.reason.clone(),
            format!("{}/{}/{}/{}", t.regular, t.silver, t.gold, t.diamond),
            v.earn.campaigns.len().to_string(),
        ]);
    }
    Ok(Outcome {
        text: rows.render(),
        json: json!({ "versions": versions.iter().map(summary).collect::<Vec<_>>() }),
        problem: false,
    })
}
