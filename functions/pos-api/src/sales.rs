//! `POST /pos/sales` and `POST /pos/returns` once the store is authenticated: parse → decide
//! (`linli::pos`) → persist (`linli::store::pos`, one conditional write or one transaction) →
//! emit the posting (deterministic id, safe to repeat).

use crate::answer::{reply, Refused};
use crate::App;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use linli::ids::{MemberId, StoreId};
use linli::ledger::PostingRequest;
use linli::pos::{member_code, MemberCodeError, Return, ReturnRequest, Sale, SaleRequest};
use linli::queue::Envelope;
use linli::store::pos::{take_return, PosStore, Returned, SaleOutcome};
use linli::time::BusinessTime;
use serde_json::{json, Value};

/// 201 for what this request recorded, 200 for a repeat (same body otherwise).
fn status(replayed: bool) -> StatusCode {
    if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    }
}

fn sale_answer(sale: &Sale, replayed: bool) -> Value {
    let posting = sale.earn_posting().map(|p| p.id.to_string());
    json!({
        "store_id": sale.store_id, "sale_id": sale.sale_id, "till": sale.till,
        "member": sale.member.masked(), "goods_fen": sale.goods_fen,
        "points_earned": sale.earned, "points_explained": sale.explanation,
        "posting_id": posting, "replayed": replayed,
    })
}

fn return_answer(ret: &Return, replayed: bool) -> Value {
    let posting = ret.claw_posting().map(|p| p.id.to_string());
    json!({
        "store_id": ret.store_id, "return_id": ret.return_id, "sale_id": ret.sale_id,
        "till": ret.till, "member": ret.member.masked(), "returned_fen": ret.returned_fen,
        "returned_total_fen": ret.returned_total_fen, "points_clawed_back": ret.clawed,
        "posting_id": posting, "replayed": replayed,
    })
}

/// Hands the posting to `points-postings.fifo` (group = member, dedup id = posting id).
async fn emit<C, P>(app: &App<C, P>, posting: Option<PostingRequest>) -> Result<(), Refused> {
    if let Some(posting) = posting {
        app.publisher
            .send(&app.settings.points_queue, &Envelope::posting(posting))
            .await?;
    }
    Ok(())
}

/// `POST /pos/sales`.
pub async fn sale<C, P: PosStore + Sync>(
    app: &App<C, P>,
    store: &StoreId,
    body: &[u8],
    now: BusinessTime,
) -> Result<Response<Body>, Refused> {
    let request = SaleRequest::parse(body, store)?;
    let code = member_code::open(&app.settings.member_code_key, &request.member_code)?;
    let member = match code.live(now) {
        Ok(member) => member,
        // A till retrying a sale accepted while its code was valid still gets its answer.
        Err(MemberCodeError::Expired) => {
            return match app.pos.sale(store, &request.sale).await? {
                Some(old) => repeat(app, old, &request, &code.member).await,
                None => Err(MemberCodeError::Expired.into()),
            };
        }
        Err(forged) => return Err(forged.into()),
    };
    let rules = linli::store::rules::in_force_at(&app.rules, now);
    let tier = linli::store::ledger::current_tier(&app.ledger, member);
    let (rules, tier) = tokio::try_join!(rules, tier)?;
    let sale = Sale::accept(&request, member.clone(), now, &rules.earn, tier);
    match app.pos.record_sale(&sale).await? {
        SaleOutcome::Recorded { cost } => {
            tracing::info!(
                store = %sale.store_id, sale_id = %sale.sale_id, member = %sale.member.masked(),
                goods_fen = sale.goods_fen.value(), points = sale.earned.value(),
                wru = cost.total(), "sale recorded"
            );
            emit(app, sale.earn_posting()).await?;
            Ok(reply(status(false), sale_answer(&sale, false)))
        }
        SaleOutcome::Exists(old) => repeat(app, old, &request, member).await,
    }
}

/// A sale id seen before: the same sale again (answer it, re-send its posting) or a reused id.
async fn repeat<C, P>(
    app: &App<C, P>,
    old: Sale,
    request: &SaleRequest,
    member: &MemberId,
) -> Result<Response<Body>, Refused> {
    if !old.is_repeat_of(request, member) {
        return Err(Refused::SaleIdReused);
    }
    tracing::info!(store = %old.store_id, sale_id = %old.sale_id, "repeat of a recorded sale");
    emit(app, old.earn_posting()).await?;
    Ok(reply(status(true), sale_answer(&old, true)))
}

/// `POST /pos/returns` (`return` is a keyword).
pub async fn give_back<C, P: PosStore + Sync>(
    app: &App<C, P>,
    store: &StoreId,
    body: &[u8],
    now: BusinessTime,
) -> Result<Response<Body>, Refused> {
    let request = ReturnRequest::parse(body, store)?;
    let (ret, replayed) = match take_return(&app.pos, &request, now).await? {
        Returned::Recorded { ret, cost } => {
            tracing::info!(
                store = %ret.store_id, return_id = %ret.return_id, sale_id = %ret.sale_id,
                member = %ret.member.masked(), returned_fen = ret.returned_fen.value(),
                points = ret.clawed.value(), wru = cost.total(), "return recorded"
            );
            (ret, false)
        }
        Returned::Replayed(ret) => {
            tracing::info!(
                store = %ret.store_id, return_id = %ret.return_id,
                "repeat of a recorded return"
            );
            (ret, true)
        }
        Returned::IdReused(_) => return Err(Refused::ReturnIdReused),
        Returned::UnknownSale => return Err(Refused::UnknownSale),
        Returned::Refused(refused) => return Err(refused.into()),
    };
    emit(app, ret.claw_posting()).await?;
    Ok(reply(status(replayed), return_answer(&ret, replayed)))
}
