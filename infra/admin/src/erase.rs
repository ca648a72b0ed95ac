//! `linli-admin member erase <member-id> --operator … --reason …` (PIPL): the member's personal
//! data erased (`linli::store::erase`), the ledger kept under the member id. Prints what was
//! removed; run again it removes nothing and says the erasure was recorded before.

use crate::output::Outcome;
use crate::tables::Tables;
use crate::AdminError;
use linli::ids::MemberId;
use serde_json::json;

pub async fn run(
    tables: &Tables<'_>,
    member: &str,
    operator: &str,
    reason: &str,
) -> Result<Outcome, AdminError> {
    let id = MemberId::parse(member.trim())
        .map_err(|e| AdminError::Usage(format!("{member:?} is not a member id: {e}")))?;
    if operator.trim().is_empty() || reason.trim().is_empty() {
        return Err(AdminError::Usage(
            "--operator and --reason must say who and why".into(),
        ));
    }
    let ledger = tables.ledger().await?;
    let orders = tables.orders().await?;
    let at = crate::now()?;
    let erased =
        linli::store::erase::erase_member(&ledger.client, &ledger.name, &orders.name, &id, at)
            .await?;
    tracing::info!(member = %id.masked(), operator, reason, "erasure requested by an operator");
    let text = format!(
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
    );
    Ok(Outcome {
        text,
        json: json!({ "member": id, "erased": erased, "operator": operator, "reason": reason }),
        problem: false,
    })
}
