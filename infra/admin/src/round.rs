//! `linli-admin round create <file.toml> | list | show <round-id>`: community group-buy rounds.
//! `create` checks every field first (an invalid file exits 1 naming the field, nothing is
//! written) and refuses an id in use; `show` gives each SKU's paid count against its minimum and
//! maximum, as the cutoff will judge it; `export <id> [--csv]` gives a closed round's purchase
//! list, delivery batch and metrics (`--json` for all of it as JSON). Recurring templates:
//! `round_template.rs`.

use crate::cli::RoundCommand;
use crate::output::{Outcome, Table};
use crate::tables::GroupBuysTable;
use crate::AdminError;
use linli::groupbuy::cutoff::decide;
use linli::groupbuy::{Round, RoundFile};
use linli::ids::RoundId;
use linli::money::Fen;
use serde_json::json;

pub async fn run(table: &GroupBuysTable, command: RoundCommand) -> Result<Outcome, AdminError> {
    match command {
        RoundCommand::Create { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| AdminError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let parsed: RoundFile = toml::from_str(&text)
                .map_err(|e| AdminError::Problem(format!("{}: {e}", file.display())))?;
            let round = parsed
                .round(crate::now()?)
                .map_err(|e| AdminError::Problem(format!("{}: {e}", file.display())))?;
            if !table.rounds.create(&round).await? {
                return Err(AdminError::Problem(format!(
                    "round {} exists already: nothing written",
                    round.round_id
                )));
            }
            show(table, round).await
        }
        RoundCommand::List => {
            let rounds = table.rounds.list().await?;
            let mut out = Table::new(&["round", "store", "community", "cutoff", "status", "skus"]);
            for r in &rounds {
                out.row(vec![
                    r.round_id.to_string(),
                    r.store_id.to_string(),
                    r.community.clone(),
                    r.cutoff_at.shanghai_rfc3339(),
                    format!("{:?}", r.status).to_lowercase(),
                    r.skus.len().to_string(),
                ]);
            }
            Ok(Outcome {
                text: out.render(),
                json: json!({ "rounds": rounds }),
                problem: false,
            })
        }
        RoundCommand::Export { round_id, csv } => export(table, &round_id, csv).await,
        RoundCommand::Template { command } => crate::round_template::run(table, command).await,
        RoundCommand::Show { round_id } => {
            let id = RoundId::parse(&round_id)
                .map_err(|_| AdminError::Usage(format!("{round_id:?} is not a round id")))?;
            let round = table
                .rounds
                .get(&id)
                .await?
                .ok_or_else(|| AdminError::Problem(format!("no round {id}")))?;
            show(table, round).await
        }
    }
}

async fn show(table: &GroupBuysTable, round: Round) -> Result<Outcome, AdminError> {
    let joined = table.rounds.joined(&round.round_id).await?;
    let outcomes = decide(&round, &joined);
    let mut out = Table::new(&["sku", "name", "joined", "min", "max", "goes ahead"]);
    for o in &outcomes {
        out.row(vec![
            o.sku.to_string(),
            o.name.clone(),
            o.joined.to_string(),
            o.min_qty.to_string(),
            o.max_qty.map_or("-".into(), |m| m.to_string()),
            if o.goes_ahead { "yes" } else { "not yet" }.into(),
        ]);
    }
    let header = format!(
        "round {} · {} · {} · cutoff {} · {:?}\n",
        round.round_id,
        round.store_id,
        round.community,
        round.cutoff_at.shanghai_rfc3339(),
        round.status
    );
    Ok(Outcome {
        text: format!("{header}{}", out.render()),
        json: json!({ "round": round, "skus": outcomes }),
        problem: false,
    })
}

/// A closed round's outputs, as the cutoff wrote them.
async fn export(table: &GroupBuysTable, round_id: &str, csv: bool) -> Result<Outcome, AdminError> {
    let id = RoundId::parse(round_id)
        .map_err(|_| AdminError::Usage(format!("{round_id:?} is not a round id")))?;
    let round = table
        .rounds
        .get(&id)
        .await?
        .ok_or_else(|| AdminError::Problem(format!("no round {id}")))?;
    if round.status != linli::groupbuy::RoundStatus::Closed {
        return Err(AdminError::Problem(format!(
            "round {id} is {:?}: its outputs come when the cutoff closes it",
            round.status
        )));
    }
    let rounds = &table.rounds;
    let list = rounds
        .output(&id, &format!("LIST#{}", round.store_id))
        .await?
        .unwrap_or_default();
    let metrics = rounds.output(&id, "METRICS").await?.unwrap_or_default();
    let mut members = Vec::new();
    for page in 0.. {
        let sk = format!("BATCH#{}#PAGE#{page}", round.community);
        match rounds.output(&id, &sk).await? {
            Some(batch) => members.extend(batch["members"].as_array().cloned().unwrap_or_default()),
            None => break,
        }
    }
    let mut rows = vec!["section,who,sku,name,qty".to_owned()];
    for line in list["lines"].as_array().into_iter().flatten() {
        rows.push(format!(
            "purchase,{},{},{},{}",
            round.store_id,
            line["sku"].as_str().unwrap_or_default(),
            line["name"].as_str().unwrap_or_default().replace(',', " "),
            line["qty"]
        ));
    }
    for handout in &members {
        for (sku, qty) in handout["skus"].as_object().into_iter().flatten() {
            rows.push(format!(
                "batch,{},{sku},,{qty}",
                handout["member"].as_str().unwrap_or_default()
            ));
        }
    }
    let text = match csv {
        true => rows.join("\n") + "\n",
        false => format!(
            "round {id} · closed · {} orders · {} confirmed · {} purchase lines · {} orders to hand over\n",
            metrics["orders"],
            Fen::new(metrics["confirmed_fen"].as_i64().unwrap_or(0)).yuan(),
            list["lines"].as_array().map_or(0, Vec::len),
            members.len()
        ),
    };
    Ok(Outcome {
        text,
        json: json!({ "round": round, "purchase_list": list, "batch": members, "metrics": metrics }),
        problem: false,
    })
}
