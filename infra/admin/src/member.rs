//! `linli-admin member <member-id | oa:<openid> | mini:<openid> | union:<unionid>>`: who the
//! argument names (through the identity items of DESIGN §3), the member's ledger profile as
//! stored (balances, lots with their expiry, open holds, a merge), whether its invariants hold,
//! and its latest postings from the history index. Exit 1 when nothing is found or the profile
//! is broken.

use crate::output::{Outcome, Table};
use crate::tables::LedgerTable;
use crate::AdminError;
use linli::ids::{Identity, MemberId, OpenId, UnionId};
use linli::ledger::{lot_expires_on, Profile};
use linli::store::ledger::LedgerStore;
use linli::store::members::Members;
use serde_json::{json, Value};

/// What the operator typed.
#[derive(Debug, PartialEq, Eq)]
pub enum Who {
    Member(MemberId),
    Identity(Identity),
}

pub fn parse_who(text: &str) -> Result<Who, AdminError> {
    let text = text.trim();
    let bad_id = |kind: &str, e: linli::ids::IdError| {
        AdminError::Usage(format!("{text:?} is not a valid {kind}: {e}"))
    };
    if let Some(openid) = text.strip_prefix("oa:") {
        let id = OpenId::parse(openid).map_err(|e| bad_id("Official Account OpenID", e))?;
        return Ok(Who::Identity(Identity::Oa(id)));
    }
    if let Some(openid) = text.strip_prefix("mini:") {
        let id = OpenId::parse(openid).map_err(|e| bad_id("mini-program OpenID", e))?;
        return Ok(Who::Identity(Identity::Mini(id)));
    }
    if let Some(unionid) = text.strip_prefix("union:") {
        let id = UnionId::parse(unionid).map_err(|e| bad_id("UnionID", e))?;
        return Ok(Who::Identity(Identity::Union(id)));
    }
    MemberId::parse(text).map(Who::Member).map_err(|_| {
        AdminError::Usage(format!(
            "{text:?} is neither a member id (a 26-character ULID) nor an identity \
             (oa:<openid>, mini:<openid>, union:<unionid>)"
        ))
    })
}

pub async fn run(table: &LedgerTable, who: &str, limit: u16) -> Result<Outcome, AdminError> {
    let who = parse_who(who)?;
    let (member, via) = match who {
        Who::Member(member) => (member, None),
        Who::Identity(identity) => match table.members.find(&identity).await? {
            Some(member) => (member, Some(identity)),
            None => {
                return Err(AdminError::Problem(format!(
                    "no member has the identity {} in table {}: check it (OpenIDs are per app)",
                    identity.key(),
                    table.name
                )))
            }
        },
    };
    let Some(profile) = table.ledger.profile_as_stored(&member).await? else {
        return Err(AdminError::Problem(format!(
            "no member {member} in table {}: check the id and the table",
            table.name
        )));
    };
    let history = table
        .ledger
        .history(&member, None, limit.max(1))
        .await?
        .lines;
    let postings: Vec<Value> = history
        .iter()
        .map(|line| {
            json!({
                "at": line.at.to_string(),
                "kind": line.kind,
                "delta": line.delta.value(),
                "posting_id": line.posting_id.to_string(),
            })
        })
        .collect();
    let mut outcome = profile_outcome(&profile, via.as_ref());
    let mut lines = Table::new(&["time (Asia/Shanghai)", "kind", "delta", "posting"]);
    for line in &history {
        lines.row(vec![
            line.at.to_string(),
            line.kind.clone(),
            format!("{:+}", line.delta.value()),
            line.posting_id.to_string(),
        ]);
    }
    if lines.is_empty() {
        outcome.text.push_str("\nNo postings.\n");
    } else {
        outcome.text.push_str(&format!(
            "\nLatest postings (newest first, at most {limit}; delta = change of available):\n"
        ));
        outcome.text.push_str(&lines.render());
    }
    outcome.json["postings"] = Value::Array(postings);
    Ok(outcome)
}

fn profile_outcome(profile: &Profile, via: Option<&Identity>) -> Outcome {
    let broken = profile.check_invariants().err().map(|v| v.to_string());
    let mut facts = Table::new(&["", ""]);
    if let Some(identity) = via {
        facts.row(vec!["found by".into(), identity.key()]);
    }
    if let Some(into) = &profile.merged_into {
        facts.row(vec!["merged into".into(), into.to_string()]);
    }
    for (label, value) in [
        ("version", profile.version.to_string()),
        ("available", profile.available.value().to_string()),
        ("held", profile.held.value().to_string()),
        ("debt", profile.debt.value().to_string()),
    ] {
        facts.row(vec![label.into(), value]);
    }
    let invariants = match &broken {
        None => "ok".to_owned(),
        Some(v) => format!("BROKEN: {v} (run `linli-admin audit`)"),
    };
    facts.row(vec!["invariants".into(), invariants]);
    let mut text = format!("Member {}\n{}", profile.member, facts.render());

    let (lots, lots_json) = lots(profile);
    text.push_str(if lots.is_empty() {
        "\nNo lots.\n"
    } else {
        "\nLots (spent oldest first):\n"
    });
    if !lots.is_empty() {
        text.push_str(&lots.render());
    }
    let (holds, holds_json) = holds(profile);
    if !holds.is_empty() {
        text.push_str("\nOpen holds:\n");
        text.push_str(&holds.render());
    }
    Outcome {
        text,
        json: json!({
            "member": profile.member.to_string(),
            "found_by": via.map(Identity::key),
            "merged_into": profile.merged_into.as_ref().map(MemberId::to_string),
            "version": profile.version,
            "available": profile.available.value(),
            "held": profile.held.value(),
            "debt": profile.debt.value(),
            "invariants": broken.clone().unwrap_or_else(|| "ok".to_owned()),
            "lots": lots_json,
            "holds": holds_json,
        }),
        problem: broken.is_some(),
    }
}

/// The member's lots with their expiry: a table and its JSON.
fn lots(profile: &Profile) -> (Table, Vec<Value>) {
    let mut lots = Table::new(&["earned", "expires on", "points"]);
    let mut json = Vec::new();
    for (month, points) in profile.lots.iter() {
        let expires_on = lot_expires_on(month).to_string();
        lots.row(vec![
            month.to_string(),
            expires_on.clone(),
            points.value().to_string(),
        ]);
        json.push(json!({
            "earned": month.to_string(),
            "expires_on": expires_on,
            "points": points.value(),
        }));
    }
    (lots, json)
}

/// The member's open holds with the lots they took: a table and its JSON.
fn holds(profile: &Profile) -> (Table, Vec<Value>) {
    let mut holds = Table::new(&["order", "points", "expires at", "lots"]);
    let mut json = Vec::new();
    for (order, hold) in &profile.holds {
        let taken: Vec<String> = hold
            .lots
            .iter()
            .map(|(m, p)| format!("{m}:{}", p.value()))
            .collect();
        holds.row(vec![
            order.to_string(),
            hold.points.value().to_string(),
            hold.expires_at.to_string(),
            taken.join(" "),
        ]);
        let by_month: serde_json::Map<String, Value> = hold
            .lots
            .iter()
            .map(|(m, p)| (m.to_string(), json!(p.value())))
            .collect();
        json.push(json!({
            "order": order.to_string(), "points": hold.points.value(),
            "expires_at": hold.expires_at.to_string(), "lots": by_month,
        }));
    }
    (holds, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_and_member_ids_are_told_apart() {
        assert_eq!(
            parse_who("union:u-1").unwrap(),
            Who::Identity(Identity::Union(UnionId::parse("u-1").unwrap()))
        );
        assert!(matches!(
            parse_who("mini:o1"),
            Ok(Who::Identity(Identity::Mini(_)))
        ));
        assert!(matches!(
            parse_who("oa:o1"),
            Ok(Who::Identity(Identity::Oa(_)))
        ));
        assert!(matches!(
            parse_who("01jd0000000000000000000000"),
            Ok(Who::Member(_))
        ));
        assert!(matches!(parse_who("bob"), Err(AdminError::Usage(_))));
        assert!(matches!(parse_who("oa:a#b"), Err(AdminError::Usage(_))));
    }
}
