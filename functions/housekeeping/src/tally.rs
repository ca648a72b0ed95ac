//! The audit's running sums (pure): members are audited one at a time against their own
//! postings, in any order, across segments, pages and runs; what the global invariant needs is
//! carried from one to the next in the checkpoints and combined at the end of the pass.

use linli::ids::MemberId;
use linli::ledger::{audit, Account, Posting, Profile, Violation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a pass (or a part of it) has summed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTally {
    pub members: u64,
    pub postings: u64,
    /// Per-member violations (the global one is decided at the end of the pass).
    pub violations: u64,
    /// Σ(available + held − debt) over the members audited.
    pub members_net: i64,
    /// Σ legs per system account over those members' postings (issuance negative).
    pub system: BTreeMap<Account, i64>,
}

impl AuditTally {
    /// Audits `profile` against its own `postings` (`ledger::audit`), adds it to the sums and
    /// answers its violations.
    pub fn add_member(&mut self, profile: &Profile, postings: &[Posting]) -> Vec<Violation> {
        let report = audit([profile], postings);
        self.members += 1;
        self.postings += u64::try_from(report.postings).unwrap_or(u64::MAX);
        self.violations += u64::try_from(report.violations.len()).unwrap_or(u64::MAX);
        let net = profile
            .available
            .value()
            .saturating_add(profile.held.value())
            .saturating_sub(profile.debt.value());
        self.members_net = self.members_net.saturating_add(net);
        for (account, sum) in report.system_accounts {
            let slot = self.system.entry(account).or_insert(0);
            *slot = slot.saturating_add(sum);
        }
        report.violations
    }

    /// A member whose profile or postings cannot be read: one violation, nothing summed.
    pub fn add_unreadable(&mut self) {
        self.members += 1;
        self.violations += 1;
    }

    /// Σ system accounts.
    pub fn system_total(&self) -> i64 {
        self.system.values().fold(0i64, |t, v| t.saturating_add(*v))
    }

    /// The global invariant over everything summed: Σ members = −Σ system accounts.
    pub fn global_violation(&self) -> Option<Violation> {
        let system = self.system_total();
        (self.members_net != system.saturating_neg()).then_some(Violation::MembersNotEqualSystem {
            members: self.members_net,
            system,
        })
    }
}

/// `text` with every member id in it masked (violations and errors name members and posting
/// ids that contain them; logs only ever show them masked).
pub fn mask_ids(text: &str) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, masked: &mut String| {
        match MemberId::parse(word) {
            Ok(id) if word.len() == 26 => masked.push_str(&id.masked()),
            _ => masked.push_str(word),
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut masked);
            masked.push(c);
        }
    }
    flush(&mut word, &mut masked);
    masked
}

impl crate::walk::Tally for AuditTally {
    /// Adds another part of the pass.
    fn combine(&mut self, other: &AuditTally) {
        self.members += other.members;
        self.postings += other.postings;
        self.violations += other.violations;
        self.members_net = self.members_net.saturating_add(other.members_net);
        for (account, sum) in &other.system {
            let slot = self.system.entry(*account).or_insert(0);
            *slot = slot.saturating_add(*sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walk::Tally;
    use linli::ids::{OrderId, PostingId};
    use linli::ledger::{Book, Op, PostingRequest, Source, Usage};
    use linli::money::Points;
    use linli::time::{BusinessTime, Month};

    fn at(month: Month) -> BusinessTime {
        month.start().plus_ms(3_600_000)
    }

    /// A small but varied ledger: earnings over months, a spend, an open hold, an expiry and a
    /// merge, all through the ledger's own rules.
    fn book() -> Book {
        let mut book = Book::default();
        let start = Month::new(2025, 1).unwrap();
        let members: Vec<MemberId> = (0..7)
            .map(|n| MemberId::generate(at(start), 1_000 + n))
            .collect();
        for member in &members {
            book.open(member.clone());
        }
        let post = |book: &mut Book, member: &MemberId, id: &str, when, op: Op| {
            let id = PostingId::parse(id).unwrap();
            book.post(&PostingRequest::new(id, member.clone(), when, vec![op]))
                .unwrap();
        };
        for (n, member) in members.iter().enumerate() {
            for m in 0..3 {
                let earn = Op::Earn {
                    source: Source::Adjust,
                    points: Points::new(10 * (n as i64 + 1)),
                };
                post(
                    &mut book,
                    member,
                    &format!("adjust:E-{n}-{m}"),
                    at(start.plus(m)),
                    earn,
                );
            }
        }
        let spend = Op::Redeem {
            usage: Usage::Goods,
            points: Points::new(15),
        };
        post(
            &mut book,
            &members[1],
            "adjust:SPEND",
            at(start.plus(3)),
            spend,
        );
        let order = OrderId::parse("O-OPEN").unwrap();
        let hold = Op::Hold {
            order: order.clone(),
            points: Points::new(20),
            expires_at: at(start.plus(20)),
        };
        post(
            &mut book,
            &members[2],
            "hold:order:O-OPEN",
            at(start.plus(3)),
            hold,
        );
        let expire = Op::Expire { month: start };
        let id = PostingId::expire(&members[3], start);
        let when = at(start.plus(13));
        book.post(&PostingRequest::new(
            id,
            members[3].clone(),
            when,
            vec![expire],
        ))
        .unwrap();
        book.merge(&members[4], &members[5], at(start.plus(4)))
            .unwrap();
        book
    }

    fn postings_of(book: &Book, member: &MemberId) -> Vec<Posting> {
        book.postings()
            .filter(|p| &p.request.member == member)
            .cloned()
            .collect()
    }

    #[test]
    fn tallies_of_parts_combine_to_the_audit_of_the_whole() {
        let book = book();
        let whole = audit(book.profiles(), book.postings());
        assert!(whole.is_clean(), "{:?}", whole.violations);
        let profiles: Vec<&Profile> = book.profiles().collect();
        // Three segments, visited in pages of two, each part on its own (as runs and segments
        // would), then combined at the end of the pass.
        let mut parts = vec![AuditTally::default(); 3];
        for (i, profile) in profiles.iter().enumerate() {
            let found = parts[i % 3].add_member(profile, &postings_of(&book, &profile.member));
            assert!(found.is_empty(), "{found:?}");
        }
        let stored: Vec<AuditTally> = parts
            .iter()
            .map(|p| serde_json::from_str(&serde_json::to_string(p).unwrap()).unwrap())
            .collect();
        assert_eq!(stored, parts, "a tally survives its checkpoint");
        let mut total = AuditTally::default();
        for part in &stored {
            total.combine(part);
        }
        assert_eq!(total.members, 7);
        assert_eq!(total.postings, u64::try_from(whole.postings).unwrap());
        assert_eq!(total.system, whole.system_accounts);
        assert_eq!(total.global_violation(), None);
        assert!(total.system.contains_key(&Account::Breakage));
        assert_eq!(total.violations, 0);
    }

    #[test]
    fn a_member_whose_profile_disagrees_with_its_postings_is_named_and_counted() {
        let book = book();
        let mut tally = AuditTally::default();
        let mut broken = book.profiles().next().unwrap().clone();
        let postings = postings_of(&book, &broken.member);
        broken.available = Points::new(broken.available.value() + 1);
        let found = tally.add_member(&broken, &postings);
        assert!(!found.is_empty());
        assert!(
            found.contains(&Violation::LotsNotEqualAvailable),
            "{found:?}"
        );
        assert_eq!(tally.violations, u64::try_from(found.len()).unwrap());
        tally.add_unreadable();
        assert_eq!(tally.members, 2);
        assert_eq!(tally.violations, u64::try_from(found.len()).unwrap() + 1);
    }

    #[test]
    fn the_global_invariant_catches_sums_that_do_not_mirror() {
        let book = book();
        let mut total = AuditTally::default();
        for profile in book.profiles() {
            total.add_member(profile, &postings_of(&book, &profile.member));
        }
        assert_eq!(total.global_violation(), None);
        *total.system.entry(Account::Breakage).or_insert(0) += 5;
        assert!(matches!(
            total.global_violation(),
            Some(Violation::MembersNotEqualSystem { .. })
        ));
    }

    #[test]
    fn member_ids_are_masked_wherever_they_appear() {
        let member = MemberId::generate(at(Month::new(2025, 1).unwrap()), 77);
        let text = format!(
            "member {member}: available balance 5 ≠ Σ legs 4; posting signin:{member}:2025-01-02"
        );
        let masked = mask_ids(&text);
        assert!(!masked.contains(member.as_str()), "{masked}");
        assert_eq!(masked.matches(&member.masked()).count(), 2, "{masked}");
        assert!(masked.starts_with("member ") && masked.ends_with(":2025-01-02"));
    }
}
