//! `linli-admin member erase <member-id> | --requested --operator … --reason …` (PIPL): the
//! member's personal data erased (`linli::store::erase`), the ledger kept under the member id;
//! `--requested` erases every member who asked with `DELETE /api/me`. Prints what was removed;
//! run again it removes nothing and says the erasure was recorded before.

use crate::output::Outcome;
use crate::tables::Tables;
use crate::AdminError;
use linli::ids::MemberId;
use serde_json::json;

pub async fn run(
    tables: &Tables<'_>,
    member: Option<&str>,
    requested: bool,
    operator: &str,
    reason: &str,
) -> Result<Outcome, AdminError> {
    if operator.trim().is_empty() || reason.trim().is_empty() {
        return Err(AdminError::Usage(
            "--operator and --reason must say who and why".into(),
        ));
    }
    let ledger = tables.ledger().await?;
    let orders = tables.orders().await?;
    let members = match (member, requested) {
        (Some(member), false) => vec![MemberId::parse(member.trim())
            .map_err(|e| AdminError::Usage(format!("{member:?} is not a member id: {e}")))?],
        (None, true) => linli::store::erase::requested(&ledger.client, &ledger.name).await?,
        _ => {
            return Err(AdminError::Usage(
                "give a member id or --requested (not both)".into(),
            ))
        }
    };
    let at = crate::now()?;
    let mut text = String::new();
    let mut done = Vec::new();
    for id in members {
        let erased =
            linli::store::erase::erase_member(&ledger.client, &ledger.name, &orders.name, &id, at)
                .await?;
        tracing::info!(member = %id.masked(), operator, reason, "erasure carried out by an operator");
        text.push_str(&format!(
            "member {id}: {} identities, consents {}, invite {}, {} orders scrubbed{}\n",
            erased.identities,
            if erased.consents { "removed" } else { "none" },
            if erased.invite { "removed" } else { "none" },
            erased.orders,
            if erased.before {
                " (erased before)"
            } else {
                ""
            },
        ));
        done.push(json!({ "member": id, "erased": erased }));
    }
    if done.is_empty() {
        text.push_str("no erasure requested\n");
    }
    let first = done.first().map(|d| d["erased"].clone());
    Ok(Outcome {
        text,
        json: json!({ "members": done, "erased": first, "operator": operator, "reason": reason }),
        problem: false,
    })
}
