//! Lifecycle reminders through the stack: consents recorded from `wx.requestSubscribeMessage`'s
//! answer; the daily `Reminders` pass sends an expiring-points message and a tier-change message
//! to the members who consented (through the `wechat` stand-in's subscribe-message endpoint),
//! each cause once however often the pass runs, nothing without consent, nothing in quiet hours;
//! a paid order counts toward the member's purchase rhythm.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::ids::{MemberId, PostingId, TicketId};
use linli::ledger::{Op, PostingRequest, Source};
use linli::money::Points;
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli::store::reminders::DynamoReminders;
use linli::store::rhythm::RhythmStore;
use linli::time::BusinessTime;
use linli_e2e::{
    call, clock, eventually, fire, fire_until_done, forget_checkpoints, local_setting, login,
    post_payment, set_clock, stack_table, tag, test_store,
};
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;

/// The devstack clock moved forward (never back) to a time outside quiet hours (09–21).
async fn daytime() -> BusinessTime {
    let now = clock().await;
    let hour = i64::from(now.minutes_of_day() / 60);
    let at = match hour {
        h if h < 9 => now.plus_ms((10 - h) * HOUR),
        h if h >= 21 => now.plus_ms((24 - h + 10) * HOUR),
        _ => return now,
    };
    set_clock(at).await;
    at
}

async fn messages(openid: &str) -> Vec<Value> {
    let (status, body) = call(
        "GET",
        &format!("/_local/wechat/subscribe-messages?touser={openid}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().unwrap().clone()
}

async fn consent(token: &str, answers: Value) -> Value {
    let (status, body) = call("POST", "/api/me/subscriptions", Some(token), Some(answers)).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn the_daily_pass_reminds_consenting_members_once_per_cause_and_never_in_quiet_hours() {
    let tag = tag();
    let expiring_tpl = local_setting("WECHAT_TEMPLATE_POINTS_EXPIRING");
    let tier_tpl = local_setting("WECHAT_TEMPLATE_TIER_CHANGED");
    let now = daytime().await;
    let (client, table) = stack_table("LedgerTable").await;
    let ledger = DynamoLedger::new(client.clone(), table.clone());

    // Ann: 40 points earned twelve months ago expire at the end of this month.
    let ann_openid = format!("o-{tag}a");
    let (ann_token, ann) = login(&format!("test:{ann_openid}:u-{tag}a")).await;
    let ann = MemberId::parse(&ann).unwrap();
    let ticket = TicketId::parse(&format!("T-{tag}")).unwrap();
    let old = now.month().plus(-12).start().plus_ms(HOUR);
    let earn = Op::Earn {
        source: Source::Adjust,
        points: Points::new(40),
    };
    let request = PostingRequest::new(PostingId::adjust(&ticket), ann.clone(), old, vec![earn]);
    ledger.post(&request).await.unwrap();
    let answer = json!({
        "errMsg": "requestSubscribeMessage:ok",
        expiring_tpl.clone(): "accept", tier_tpl.clone(): "reject", "someone-elses": "accept",
    });
    let recorded = consent(&ann_token, answer).await;
    assert_eq!(recorded["consents"][&expiring_tpl], 1, "{recorded}");
    assert_eq!(recorded["ignored"], json!(["someone-elses"]));

    // Ben: 银卡 today (a ¥6,000 payment), consents to tier news; Cat: the same, no consent.
    let mut tier_members = vec![];
    for (who, accept) in [("b", true), ("c", false)] {
        let openid = format!("o-{tag}{who}");
        let (token, member) = login(&format!("test:{openid}:u-{tag}{who}")).await;
        let member = MemberId::parse(&member).unwrap();
        post_payment(&member, &format!("O-rem-{tag}{who}"), now, 6_000, 600_000).await;
        if accept {
            consent(&token, json!({ tier_tpl.clone(): "accept" })).await;
        }
        tier_members.push(openid);
    }

    forget_checkpoints("Reminders").await;
    let runs = fire_until_done("Reminders").await;
    let sent: u64 = runs.iter().map(|r| r["sent"].as_u64().unwrap()).sum();
    assert!(sent >= 2, "{runs:?}");

    let ann_got = messages(&ann_openid).await;
    assert_eq!(ann_got.len(), 1, "{ann_got:?}");
    assert_eq!(ann_got[0]["template_id"], expiring_tpl.as_str());
    assert_eq!(ann_got[0]["data"]["number1"]["value"], "40");
    assert_eq!(ann_got[0]["page"], "pages/points/index");
    let ben_got = messages(&tier_members[0]).await;
    assert_eq!(ben_got.len(), 1, "{ben_got:?}");
    assert_eq!(ben_got[0]["data"]["thing1"]["value"], "银卡");
    assert!(
        messages(&tier_members[1]).await.is_empty(),
        "no consent, no message"
    );
    let (_, left) = call("GET", "/api/me/subscriptions", Some(&ann_token), None).await;
    assert_eq!(left["consents"][&expiring_tpl], 0, "{left}");

    // The pass again (a new day's pass too): each cause was reminded once; nothing more.
    forget_checkpoints("Reminders").await;
    fire_until_done("Reminders").await;
    assert_eq!(messages(&ann_openid).await.len(), 1);
    assert_eq!(messages(&tier_members[0]).await.len(), 1);

    // Quiet hours: a run at 22:00 does nothing.
    let night = now.plus_ms(i64::from(22 * 60 - now.minutes_of_day()) * 60_000);
    set_clock(night).await;
    let (status, quiet) = fire("HousekeepingFunction", "Reminders").await;
    assert_eq!(status, 200, "{quiet}");
    assert_eq!(
        (quiet["quiet"].as_bool(), quiet["sent"].as_u64()),
        (Some(true), Some(0))
    );
}

#[tokio::test]
async fn a_paid_order_counts_toward_the_purchase_rhythm() {
    let tag = tag();
    let store = test_store(&tag, &[("RICE-5KG", "五常大米 5kg", 6_990, 9)]).await;
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    let member = MemberId::parse(&member).unwrap();
    let body = json!({"store_id": store.as_str(), "fulfilment": "pickup", "items": [{"sku": "RICE-5KG", "qty": 2}]});
    let (status, order) = call("POST", "/api/orders", Some(&token), Some(body)).await;
    assert_eq!(status, 201, "{order}");
    let id = order["order_id"].as_str().unwrap();
    let (status, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(status, 200, "{paid}");
    let (client, table) = stack_table("LedgerTable").await;
    let reminders = DynamoReminders::new(client, table);
    let rhythm = eventually(30, "the purchase counted", || async {
        let rhythm = reminders.rhythm(&member).await.unwrap();
        rhythm.get("RICE-5KG").cloned()
    })
    .await;
    assert_eq!((rhythm.count, rhythm.name.as_str()), (1, "五常大米 5kg"));
    assert_eq!(rhythm.last, clock().await.date());
}
