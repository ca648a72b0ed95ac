//! `linli-admin adjust <member> <±points> --reason … --operator … [--ticket …]`: a manual
//! adjustment, posting `adjust:<ticket>` exactly once — `Earn { source: Adjust }` to give,
//! `Redeem { usage: Adjust }` to take (refused, with the ledger's reason, beyond the available
//! points). A posting has no room for who and why, so they are recorded beside it, in the
//! member's partition: `MEMBER#<id>` / `ADJUST#<ticket>` {`posting_id`, `points`, `reason`,
//! `operator`, `at`}, put if absent before the posting is written. A retry with the same ticket
//! finds both and changes nothing.

mod record;

use crate::cli::AdjustArgs;
use crate::output::{Outcome, Table};
use crate::tables::LedgerTable;
use crate::AdminError;
use linli::ids::{MemberId, PostingId, TicketId};
use linli::ledger::{apply, replay, ErrorClass, Op, PostingRequest, PostingResult, Source, Usage};
use linli::money::Points;
use linli::store::ledger::LedgerStore;
use linli::store::StoreError;
use record::{forget_record, put_record, read_record, Record};
use serde_json::json;

/// A free-text flag: trimmed, not empty, at most `max` characters, no control characters.
pub fn text_flag(flag: &str, value: &str, max: usize) -> Result<String, AdminError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(AdminError::Usage(format!(
            "{flag} must be 1–{max} characters of plain text"
        )));
    }
    Ok(value.to_owned())
}

/// A new ticket: a ULID (time-ordered, unique enough for operators typing at once).
pub fn new_ticket(now: linli::time::BusinessTime) -> Result<TicketId, AdminError> {
    let ms = u64::try_from(now.epoch_ms()).unwrap_or(0);
    let random = u128::from(fastrand::u64(..)) << 64 | u128::from(fastrand::u64(..));
    TicketId::parse(&ulid::Ulid::from_parts(ms, random).to_string())
        .map_err(|e| AdminError::Usage(format!("cannot make a ticket ({e}): pass --ticket")))
}

fn op_for(points: i64) -> Result<Op, AdminError> {
    match points {
        0 => Err(AdminError::Usage(
            "points must not be 0: +N gives N points, -N takes N points".to_owned(),
        )),
        p if p > 0 => Ok(Op::Earn {
            source: Source::Adjust,
            points: Points::new(p),
        }),
        p => Ok(Op::Redeem {
            usage: Usage::Adjust,
            points: Points::new(p.checked_neg().unwrap_or(i64::MAX)),
        }),
    }
}

pub async fn run(table: &LedgerTable, args: AdjustArgs) -> Result<Outcome, AdminError> {
    let record = Record {
        points: args.points,
        reason: text_flag("--reason", &args.reason, 500)?,
        operator: text_flag("--operator", &args.operator, 64)?,
    };
    let op = op_for(args.points)?;
    let now = crate::now()?;
    let (ticket, generated) = match args.ticket {
        Some(ticket) => (ticket, false),
        None => (new_ticket(now)?, true),
    };
    let request = PostingRequest::new(
        PostingId::adjust(&ticket),
        args.member.clone(),
        now,
        vec![op],
    );
    let shown = Shown {
        member: &args.member,
        ticket: &ticket,
        generated,
        record: &record,
    };
    let answered = match answered_before(table, &request, shown).await {
        Ok(None) => write(table, &request, shown).await,
        Ok(Some(answer)) => Ok(answer),
        Err(e) => Err(e),
    };
    answered.map_err(|e| retry_hint(e, &ticket))
}

/// The answer when the adjustment was made before, or cannot be made; None when it can.
async fn answered_before(
    table: &LedgerTable,
    request: &PostingRequest,
    shown: Shown<'_>,
) -> Result<Option<Outcome>, AdminError> {
    let (member, ticket) = (shown.member, shown.ticket);
    if let Some(stored) = table.ledger.posting(member, &request.id).await? {
        return Ok(Some(match replay(&stored, request) {
            Ok(answer) => {
                // Who made it and why, as recorded the first time.
                let first = read_record(table, member, ticket).await?;
                let record = first.as_ref().unwrap_or(shown.record);
                Shown { record, ..shown }.posted(&answer.result, true)
            }
            Err(_) => shown.refused(&format!(
                "ticket {ticket} was already used for a different adjustment of this member \
                 (posting {}): pick another ticket",
                stored.request.id
            )),
        }));
    }
    let Some(profile) = table.ledger.profile(member).await? else {
        return Ok(Some(shown.refused(&format!(
            "no member {member} in table {}: check the id (`linli-admin member`) and the table",
            table.name
        ))));
    };
    if let Some(into) = &profile.merged_into {
        return Ok(Some(shown.refused(&format!(
            "member {member} was merged into {into}: adjust {into} instead"
        ))));
    }
    // Decided before anything is written, so a refusal leaves no record behind.
    Ok(apply(&profile, request)
        .err()
        .map(|e| shown.refused(&e.to_string())))
}

/// Records who and why, then posts.
async fn write(
    table: &LedgerTable,
    request: &PostingRequest,
    shown: Shown<'_>,
) -> Result<Outcome, AdminError> {
    let (member, ticket, record) = (shown.member, shown.ticket, shown.record);
    if let Some(other) = put_record(table, member, ticket, request, record).await? {
        if other.points != record.points {
            return Ok(shown.refused(&format!(
                "ticket {ticket} is recorded for {:+} points by {}, not {:+}: pick another ticket",
                other.points, other.operator, record.points
            )));
        }
    }
    match table.ledger.post(request).await {
        Ok(posted) => Ok(shown.posted(&posted.outcome.result, posted.outcome.replayed)),
        Err(StoreError::Ledger(e)) if e.class() == ErrorClass::Business => {
            // The balance moved between the decision and the write: nothing was posted.
            forget_record(table, member, ticket).await?;
            Ok(shown.refused(&e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

fn retry_hint(error: AdminError, ticket: &TicketId) -> AdminError {
    match error {
        AdminError::Unreachable(message) => AdminError::Unreachable(format!(
            "{message}\n  then retry with --ticket {ticket}: the same ticket is the same \
             adjustment, made at most once"
        )),
        other => other,
    }
}

/// What the operator sees.
#[derive(Clone, Copy)]
struct Shown<'a> {
    member: &'a MemberId,
    ticket: &'a TicketId,
    generated: bool,
    record: &'a Record,
}

impl Shown<'_> {
    fn posted(&self, result: &PostingResult, replayed: bool) -> Outcome {
        let headline = if replayed {
            format!(
                "Adjustment adjust:{} was already recorded: nothing changed.",
                self.ticket
            )
        } else {
            format!("Adjustment adjust:{} posted.", self.ticket)
        };
        let mut table = Table::new(&["", ""]);
        for (label, value) in [
            ("member", self.member.to_string()),
            ("ticket", self.ticket.to_string()),
            ("points", format!("{:+}", self.record.points)),
            ("available", result.available.value().to_string()),
            ("held", result.held.value().to_string()),
            ("debt", result.debt.value().to_string()),
            ("operator", self.record.operator.clone()),
            ("reason", self.record.reason.clone()),
        ] {
            table.row(vec![label.to_owned(), value]);
        }
        let mut text = format!("{headline}\n{}", table.render());
        if self.generated {
            text.push_str(&format!(
                "To retry this same adjustment (never twice): --ticket {}\n",
                self.ticket
            ));
        }
        Outcome {
            text,
            json: json!({
                "outcome": if replayed { "already_recorded" } else { "posted" },
                "member": self.member.to_string(),
                "ticket": self.ticket.to_string(),
                "posting_id": format!("adjust:{}", self.ticket),
                "points": self.record.points,
                "available": result.available.value(),
                "held": result.held.value(),
                "debt": result.debt.value(),
                "operator": self.record.operator,
                "reason": self.record.reason,
            }),
            problem: false,
        }
    }

    fn refused(&self, why: &str) -> Outcome {
        Outcome {
            text: format!(
                "REFUSED: {why}\nNothing was written (member {}, ticket {}, {:+} points).\n",
                self.member, self.ticket, self.record.points
            ),
            json: json!({
                "outcome": "refused",
                "member": self.member.to_string(),
                "ticket": self.ticket.to_string(),
                "points": self.record.points,
                "reason_refused": why,
            }),
            problem: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_chooses_earn_or_redeem_and_zero_is_refused() {
        let give = Op::Earn {
            source: Source::Adjust,
            points: Points::new(50),
        };
        assert_eq!(op_for(50).unwrap(), give);
        let take = Op::Redeem {
            usage: Usage::Adjust,
            points: Points::new(80),
        };
        assert_eq!(op_for(-80).unwrap(), take);
        assert!(matches!(op_for(0), Err(AdminError::Usage(_))));
        assert!(matches!(op_for(i64::MIN), Ok(Op::Redeem { .. })));
    }

    #[test]
    fn free_text_is_trimmed_and_bounded() {
        assert_eq!(
            text_flag("--reason", "  goodwill ", 10).unwrap(),
            "goodwill"
        );
        assert!(text_flag("--reason", "   ", 10).is_err());
        assert!(text_flag("--reason", "a\u{7}b", 10).is_err());
        assert!(text_flag("--operator", &"x".repeat(11), 10).is_err());
    }

    #[test]
    fn generated_tickets_are_ulids() {
        let now = linli::time::BusinessTime::from_epoch_ms(1_764_036_000_000).unwrap();
        let ticket = new_ticket(now).unwrap();
        assert_eq!(ticket.as_str().len(), 26);
        assert_ne!(ticket, new_ticket(now).unwrap());
    }
}
