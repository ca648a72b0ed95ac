//! `linli-admin anomalies list [--limit N] | resolve <order> <anomaly> --operator … --note …`:
//! the anomalies pay-notify, the cutoff and the refunds record (docs/runbook.md). `list` shows
//! the open ones, oldest first, and exits 1 while any is open; `resolve` records who settled one
//! and how, once (a second time, or an unknown one, exits 1).

use crate::cli::AnomaliesCommand;
use crate::output::{Outcome, Table};
use crate::tables::OrdersTable;
use crate::AdminError;
use serde_json::json;

pub async fn run(table: &OrdersTable, command: AnomaliesCommand) -> Result<Outcome, AdminError> {
    match command {
        AnomaliesCommand::List { limit } => {
            let open = table.orders.open_anomalies(limit).await?;
            let mut out = Table::new(&["recorded", "id", "order", "paid", "detail"]);
            for stored in &open {
                let a = &stored.anomaly;
                out.row(vec![
                    a.recorded_at.shanghai_rfc3339(),
                    a.id(),
                    a.out_trade_no.clone(),
                    a.paid_fen.yuan(),
                    a.detail.clone(),
                ]);
            }
            Ok(Outcome {
                text: out.render(),
                json: json!({ "open": open }),
                problem: !open.is_empty(),
            })
        }
        AnomaliesCommand::Resolve {
            order,
            anomaly,
            operator,
            note,
        } => {
            if operator.trim().is_empty() || note.trim().is_empty() {
                return Err(AdminError::Usage(
                    "--operator and --note must say who and how".into(),
                ));
            }
            let at = crate::now()?;
            if !table
                .orders
                .resolve_anomaly(&order, &anomaly, &operator, &note, at)
                .await?
            {
                return Err(AdminError::Problem(format!(
                    "no open anomaly {anomaly} of order {order} (resolved already?)"
                )));
            }
            Ok(Outcome {
                text: format!("anomaly {anomaly} of order {order} resolved by {operator}\n"),
                json: json!({ "order": order, "anomaly": anomaly, "resolved_by": operator, "resolution": note }),
                problem: false,
            })
        }
    }
}
