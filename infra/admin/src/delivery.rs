//! `linli-admin delivery show|set <file.toml> --operator … --reason … [--dry-run]`: the delivery
//! pricing rules (fee bands, points per yuan of fee, peaks, weather factors, tier discounts, the
//! free-delivery threshold and what lowers it, priority). `set` checks every field first: an
//! invalid file is refused naming the field and nothing changes.

use crate::cli::DeliveryCommand;
use crate::output::Outcome;
use crate::tables::ConfigTable;
use crate::AdminError;
use linli::delivery::DeliveryRules;
use linli::store::delivery_rules::DeliveryRulesStore;
use serde_json::json;

pub async fn run(table: &ConfigTable, command: DeliveryCommand) -> Result<Outcome, AdminError> {
    match command {
        DeliveryCommand::Show => show(table).await,
        DeliveryCommand::Set {
            file,
            operator,
            reason,
            dry_run,
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| AdminError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let rules = DeliveryRules::from_toml(&text)
                .map_err(|e| AdminError::Problem(format!("{}: {e}", file.display())))?;
            if operator.trim().is_empty() || reason.trim().is_empty() {
                return Err(AdminError::Usage(
                    "--operator and --reason must not be empty".into(),
                ));
            }
            if dry_run {
                return Ok(Outcome {
                    text: format!("{}: valid (dry run: nothing written)\n", file.display()),
                    json: json!({ "valid": true, "dry_run": true }),
                    problem: false,
                });
            }
            let now = crate::now()?;
            table
                .delivery
                .set_delivery_rules(&rules, &operator, &reason, now)
                .await?;
            show(table).await
        }
    }
}

async fn show(table: &ConfigTable) -> Result<Outcome, AdminError> {
    let found = table.delivery.delivery_rules().await?;
    let toml = found
        .rules
        .to_toml()
        .map_err(|e| AdminError::Problem(format!("the stored rules do not print: {e}")))?;
    let header = match &found.set_by {
        Some((who, why, at)) => format!("# delivery rules set {at} by {who}: {why}\n"),
        None => "# delivery rules: the defaults (never set)\n".to_owned(),
    };
    Ok(Outcome {
        text: format!("{header}{toml}"),
        json: json!({
            "rules": found.rules,
            "set_by": found.set_by.as_ref().map(|(who, _, _)| who),
            "reason": found.set_by.as_ref().map(|(_, why, _)| why),
        }),
        problem: false,
    })
}
