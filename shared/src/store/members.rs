//! Identity items (DESIGN §3): `IDENTITY#<kind>#<value>` / `IDENTITY` → member id, in the
//! `Ledger` table. They are created with `attribute_not_exists`, together with the new member's
//! profile in one transaction, so concurrent first contacts (a follow and a mini-program login
//! at the same moment, or WeChat repeating a push) converge on one member.

use super::ledger::item::{self, key, string, Item};
use super::ledger::LedgerStore;
use super::wru::{item_size, WriteCost};
use super::StoreError;
use crate::ids::{Identity, MemberId, UnionId};
use crate::time::BusinessTime;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use std::future::Future;

const IDENTITY_SK: &str = "IDENTITY";
/// Beside the member's `PROFILE` (which only the ledger writes).
const INVITE_SK: &str = "INVITE";
const MEMBER: &str = "member";

/// The member an identity resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub member: MemberId,
    /// True when this call created the member (first contact).
    pub created: bool,
    pub cost: WriteCost,
}

/// What linking an identity to a member found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Linked {
    /// The identity now names the member (or already did).
    Linked,
    /// The identity already names another member: the two must be merged.
    OtherMember(MemberId),
}

/// A member's invite QR code as last created (cached: WeChat's codes live 30 days).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InviteCode {
    pub scene: String,
    pub ticket: String,
    pub url: String,
    pub expires_at: BusinessTime,
}

pub trait Members {
    /// The member `identity` names, if any (consistent read).
    fn find(
        &self,
        identity: &Identity,
    ) -> impl Future<Output = Result<Option<MemberId>, StoreError>> + Send;

    /// The member `identity` names, created with an empty profile on first contact. `candidate`
    /// is the id a new member gets; concurrent callers converge on whichever was written first.
    fn find_or_create(
        &self,
        identity: &Identity,
        candidate: MemberId,
        at: BusinessTime,
    ) -> impl Future<Output = Result<Membership, StoreError>> + Send;

    /// Makes `identity` name `member` too, unless it already names someone.
    fn link(
        &self,
        identity: &Identity,
        member: &MemberId,
        at: BusinessTime,
    ) -> impl Future<Output = Result<Linked, StoreError>> + Send;

    /// The member's cached invite code (`MEMBER#<id>` / `INVITE`), if any.
    fn invite_code(
        &self,
        member: &MemberId,
    ) -> impl Future<Output = Result<Option<InviteCode>, StoreError>> + Send;

    /// Caches the member's invite code (replacing an older one).
    fn save_invite_code(
        &self,
        member: &MemberId,
        code: &InviteCode,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records on an Official Account identity whether it follows the account (unfollowing
    /// keeps the member, its points and records; following again reactivates it).
    fn set_following(
        &self,
        identity: &Identity,
        following: bool,
        at: BusinessTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records the member's request to erase their personal data (PIPL), once; answers when it
    /// was first asked (an operator carries it out: `linli-admin member erase --requested`).
    fn request_erasure(
        &self,
        member: &MemberId,
        at: BusinessTime,
    ) -> impl Future<Output = Result<BusinessTime, StoreError>> + Send;
}

/// Who a WeChat user is in Linli (DESIGN §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub member: MemberId,
    /// True when this contact created the member.
    pub created: bool,
    /// The OpenID-only member this contact merged into `member`, if it did.
    pub merged: Option<MemberId>,
}

/// The member of a WeChat user who reached Linli through `app` (an Official Account or
/// mini-program OpenID), with the UnionID when WeChat gave one. The UnionID's member wins: an
/// OpenID-only member found for `app` is linked to the UnionID, or, when the UnionID already
/// names another member, merged into that one (`merge:<from>`, exactly once, `app` re-pointed in
/// the same transaction). Without a UnionID the OpenID's member is found or created.
/// A merge the ledger refuses (e.g. too many open holds between the two) is logged and left for
/// the next contact; the OpenID's member is answered meanwhile.
pub async fn resolve<M: Members, L: LedgerStore>(
    members: &M,
    ledger: &L,
    app: &Identity,
    union: Option<&UnionId>,
    candidate: MemberId,
    at: BusinessTime,
) -> Result<Resolved, StoreError> {
    let found = |member: MemberId| Resolved {
        member,
        created: false,
        merged: None,
    };
    let Some(union) = union else {
        let membership = members.find_or_create(app, candidate, at).await?;
        return Ok(Resolved {
            member: membership.member,
            created: membership.created,
            merged: None,
        });
    };
    let union = Identity::Union(union.clone());
    let (by_app, by_union) = tokio::try_join!(members.find(app), members.find(&union))?;
    match (by_app, by_union) {
        (Some(mine), Some(theirs)) if mine == theirs => Ok(found(mine)),
        (Some(mine), Some(theirs)) => merge_into(ledger, app, mine, theirs, at).await,
        (Some(mine), None) => match members.link(&union, &mine, at).await? {
            Linked::Linked => {
                tracing::info!(member = %mine.masked(), "UnionID linked to the OpenID's member");
                Ok(found(mine))
            }
            Linked::OtherMember(theirs) => merge_into(ledger, app, mine, theirs, at).await,
        },
        (None, by_union) => {
            let (member, created) = match by_union {
                Some(member) => (member, false),
                None => {
                    let membership = members.find_or_create(&union, candidate, at).await?;
                    (membership.member, membership.created)
                }
            };
            match members.link(app, &member, at).await? {
                Linked::Linked => Ok(Resolved {
                    member,
                    created,
                    merged: None,
                }),
                // A concurrent first contact without the UnionID created an OpenID-only member.
                Linked::OtherMember(mine) => merge_into(ledger, app, mine, member, at).await,
            }
        }
    }
}

async fn merge_into<L: LedgerStore>(
    ledger: &L,
    app: &Identity,
    from: MemberId,
    into: MemberId,
    at: BusinessTime,
) -> Result<Resolved, StoreError> {
    match ledger
        .merge(&from, &into, std::slice::from_ref(app), at)
        .await
    {
        Ok(_) => Ok(Resolved {
            member: into,
            created: false,
            merged: Some(from),
        }),
        Err(StoreError::Ledger(error)) => {
            tracing::warn!(
                from = %from.masked(),
                into = %into.masked(),
                reason = %error,
                "merge refused: left for the next contact"
            );
            Ok(Resolved {
                member: from,
                created: false,
                merged: None,
            })
        }
        Err(error) => Err(error),
    }
}

#[derive(Clone, Debug)]
pub struct DynamoMembers {
    client: Client,
    table: String,
}

/// The key of the item that maps `identity` to its member.
pub(crate) fn identity_key(identity: &Identity) -> Item {
    key(
        format!("IDENTITY#{}", identity.key()),
        IDENTITY_SK.to_owned(),
    )
}

fn identity_item(identity: &Identity, member: &MemberId, at: BusinessTime) -> Item {
    let mut item = identity_key(identity);
    item.insert(MEMBER.to_owned(), AttributeValue::S(member.to_string()));
    item.insert("since".to_owned(), item::number(at.epoch_ms()));
    item
}

fn member_of(item: &Item) -> Result<MemberId, StoreError> {
    string(item, MEMBER)
        .and_then(|m| MemberId::parse(&m).ok())
        .ok_or_else(|| StoreError::Corrupt {
            key: string(item, item::PK).unwrap_or_default(),
            why: "identity without a valid member".to_owned(),
        })
}

fn put_if_absent(table: &str, item: Item) -> Result<Put, StoreError> {
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(|e| StoreError::dynamo("TransactWriteItems", e))
}

impl DynamoMembers {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl Members for DynamoMembers {
    async fn request_erasure(
        &self,
        member: &MemberId,
        at: BusinessTime,
    ) -> Result<BusinessTime, StoreError> {
        super::erase::request(&self.client, &self.table, member, at).await
    }

    async fn find(&self, identity: &Identity) -> Result<Option<MemberId>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(identity_key(identity)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        output.item.as_ref().map(member_of).transpose()
    }

    async fn find_or_create(
        &self,
        identity: &Identity,
        candidate: MemberId,
        at: BusinessTime,
    ) -> Result<Membership, StoreError> {
        if let Some(member) = self.find(identity).await? {
            return Ok(Membership {
                member,
                created: false,
                cost: WriteCost::default(),
            });
        }
        let identity_item = identity_item(identity, &candidate, at);
        let profile_item = item::new_profile_item(&candidate, at)?;
        let mut cost = WriteCost::default();
        cost.add_transactional("identity", item_size(&identity_item))
            .add_transactional("profile", item_size(&profile_item));
        let sent = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .put(put_if_absent(&self.table, identity_item)?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .put(put_if_absent(&self.table, profile_item)?)
                    .build(),
            )
            .send()
            .await;
        match sent {
            Ok(_) => {
                tracing::info!(
                    identity = %identity.masked(),
                    member = %candidate.masked(),
                    wru = cost.total(),
                    "member created"
                );
                Ok(Membership {
                    member: candidate,
                    created: true,
                    cost,
                })
            }
            Err(error) => {
                let existing = match error.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                        .cancellation_reasons()
                        .first()
                        .filter(|r| r.code() == Some("ConditionalCheckFailed"))
                        .and_then(CancellationReason::item)
                        .map(member_of)
                        .transpose()?,
                    _ => None,
                };
                match existing {
                    // Someone else's first contact won: converge on their member.
                    Some(member) => Ok(Membership {
                        member,
                        created: false,
                        cost: WriteCost::default(),
                    }),
                    None => match self.find(identity).await? {
                        Some(member) => Ok(Membership {
                            member,
                            created: false,
                            cost: WriteCost::default(),
                        }),
                        None => Err(StoreError::dynamo("TransactWriteItems", error)),
                    },
                }
            }
        }
    }

    async fn link(
        &self,
        identity: &Identity,
        member: &MemberId,
        at: BusinessTime,
    ) -> Result<Linked, StoreError> {
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(identity_item(identity, member, at)))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Linked::Linked),
            Err(error) => {
                let Some(service) = error.as_service_error() else {
                    return Err(StoreError::dynamo("PutItem", error));
                };
                if !service.is_conditional_check_failed_exception() {
                    return Err(StoreError::dynamo("PutItem", error));
                }
                let owner = match self.find(identity).await? {
                    Some(owner) => owner,
                    None => return Err(StoreError::dynamo("PutItem", error)),
                };
                if &owner == member {
                    Ok(Linked::Linked)
                } else {
                    Ok(Linked::OtherMember(owner))
                }
            }
        }
    }

    async fn set_following(
        &self,
        identity: &Identity,
        following: bool,
        at: BusinessTime,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(identity_key(identity)))
            .update_expression("SET following = :following, following_since = :at")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":following", AttributeValue::Bool(following))
            .expression_attribute_values(":at", item::number(at.epoch_ms()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    async fn invite_code(&self, member: &MemberId) -> Result<Option<InviteCode>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(item::member_pk(member), INVITE_SK.to_owned())))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        output
            .item
            .map(|i| {
                serde_dynamo::from_item(i).map_err(|e| StoreError::Corrupt {
                    key: format!("{}/{INVITE_SK}", member.masked()),
                    why: e.to_string(),
                })
            })
            .transpose()
    }

    async fn save_invite_code(
        &self,
        member: &MemberId,
        code: &InviteCode,
    ) -> Result<(), StoreError> {
        let mut item: Item = serde_dynamo::to_item(code).map_err(|e| StoreError::Corrupt {
            key: format!("{}/{INVITE_SK}", member.masked()),
            why: e.to_string(),
        })?;
        item.extend(key(item::member_pk(member), INVITE_SK.to_owned()));
        super::put(&self.client, &self.table, item).await
    }
}
