//! wechat-callback end to end: the Official Account's pushes, plaintext and safe mode, signed as
//! WeChat signs them with `local.env`'s token and EncodingAESKey.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::ids::{Identity, OpenId};
use linli::store::members::{DynamoMembers, Members};
use linli::wechat::oa::{self, AesKey};
use linli::wechat::xml;
use linli_e2e::{
    advance, base, call, clock, local_setting, login, stack_table, tag, test_store_at,
};
use serde_json::json;

/// The query WeChat adds to a push at `timestamp` (seconds).
fn signed_query(timestamp: i64, extra: &str) -> String {
    let (ts, nonce) = (timestamp.to_string(), format!("{}", fastrand::u32(..)));
    let signature = oa::signature(&local_setting("WECHAT_OA_TOKEN"), &ts, &nonce);
    format!("timestamp={ts}&nonce={nonce}&signature={signature}{extra}")
}

fn key() -> AesKey {
    AesKey::from_encoding_aes_key(&local_setting("WECHAT_OA_ENCODING_AES_KEY")).unwrap()
}

async fn post(query: &str, body: String) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/wechat/callback?{query}", base()))
        .header("content-type", "text/xml")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// A push in plaintext mode; answers (status, reply Content or the raw body).
async fn push(inner: &str) -> (u16, String) {
    let now = clock().await.epoch_seconds();
    let (status, body) = post(&signed_query(now, ""), inner.to_owned()).await;
    (status, content(&body))
}

/// A push in safe mode with `appid` inside; the reply is decrypted and checked.
async fn push_encrypted(inner: &str, appid: &str) -> (u16, String) {
    let now = clock().await.epoch_seconds();
    let encrypt = oa::encrypt(&key(), inner, appid, [7u8; 16]);
    let (ts, nonce) = (now.to_string(), "1234567".to_owned());
    let msg_signature = oa::msg_signature(&local_setting("WECHAT_OA_TOKEN"), &ts, &nonce, &encrypt);
    let signature = oa::signature(&local_setting("WECHAT_OA_TOKEN"), &ts, &nonce);
    let query = format!(
        "timestamp={ts}&nonce={nonce}&signature={signature}&encrypt_type=aes&msg_signature={msg_signature}"
    );
    let body = format!("<xml><ToUserName><![CDATA[gh_linli]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
    let (status, reply) = post(&query, body).await;
    if status != 200 || reply == "success" {
        return (status, reply);
    }
    let fields = xml::parse(reply.as_bytes()).unwrap();
    let (ts, nonce, sealed) = (&fields["TimeStamp"], &fields["Nonce"], &fields["Encrypt"]);
    oa::verify_msg_signature(
        &local_setting("WECHAT_OA_TOKEN"),
        ts,
        nonce,
        sealed,
        &fields["MsgSignature"],
    )
    .expect("the reply is signed");
    let inner = oa::decrypt(&key(), sealed, &local_setting("WECHAT_OA_APP_ID")).unwrap();
    (status, content(&inner))
}

fn content(reply: &str) -> String {
    xml::parse(reply.as_bytes())
        .ok()
        .and_then(|f| f.get("Content").cloned())
        .unwrap_or_else(|| reply.to_owned())
}

fn event(openid: &str, at: i64, event: &str, key: &str) -> String {
    format!("<xml><ToUserName><![CDATA[gh_linli]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{at}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>")
}

fn text(openid: &str, at: i64, content: &str) -> String {
    let msg_id: u64 = fastrand::u64(1..u64::MAX / 2);
    format!("<xml><ToUserName><![CDATA[gh_linli]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{at}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")
}

fn location(openid: &str, at: i64, (lat, lng): (f64, f64)) -> String {
    let msg_id: u64 = fastrand::u64(1..u64::MAX / 2);
    format!("<xml><ToUserName><![CDATA[gh_linli]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{at}</CreateTime><MsgType><![CDATA[location]]></MsgType><Location_X>{lat}</Location_X><Location_Y>{lng}</Location_Y><Scale>15</Scale><Label><![CDATA[here]]></Label><MsgId>{msg_id}</MsgId></xml>")
}

async fn member_of(openid: &str) -> Option<String> {
    let (client, table) = stack_table("LedgerTable").await;
    DynamoMembers::new(client, table)
        .find(&Identity::Oa(OpenId::parse(openid).unwrap()))
        .await
        .unwrap()
        .map(|m| m.to_string())
}

#[tokio::test]
async fn the_url_check_echoes_only_with_a_valid_signature() {
    let now = clock().await.epoch_seconds();
    let get = |query: String| async move {
        let response = reqwest::get(format!("{}/wechat/callback?{query}", base()))
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert_eq!(
        get(signed_query(now, "&echostr=hello-linli")).await,
        (200, "hello-linli".to_owned())
    );
    let (status, _) = get(format!(
        "timestamp={now}&nonce=1&signature=deadbeef&echostr=x"
    ))
    .await;
    assert_eq!(status, 401);
    let (status, _) = get("echostr=x".to_owned()).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_follower_becomes_the_same_member_as_in_the_mini_program_and_signs_in_once_a_day() {
    let tag = tag();
    let openid = format!("oa-{tag}");
    // WeChat knows this follower's UnionID; the mini-program login has the same one.
    let (status, _) = call(
        "POST",
        "/_local/wechat/followers",
        None,
        Some(json!({"openid": openid, "unionid": format!("u-{tag}")})),
    )
    .await;
    assert_eq!(status, 204);
    let now = clock().await.epoch_seconds();

    let (status, welcome) = push_encrypted(
        &event(&openid, now, "subscribe", ""),
        &local_setting("WECHAT_OA_APP_ID"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        welcome.contains("欢迎") && welcome.contains("0 积分"),
        "{welcome}"
    );

    let (status, first) = push(&text(&openid, now, "签到")).await;
    assert_eq!(status, 200);
    assert!(
        first.contains("签到成功") && first.contains("5 积分"),
        "{first}"
    );
    // The same message delivered again (WeChat's retry): the same reply, no new effect.
    let again = text(&openid, now + 1, "签到");
    let (_, r1) = push(&again).await;
    let (_, r2) = push(&again).await;
    assert_eq!(r1, r2, "a retry gets the stored reply");
    assert!(r1.contains("已经签到"), "{r1}");

    let (token, _) = login(&format!("test:mini-{tag}:u-{tag}")).await;
    let (_, me) = call("GET", "/api/me", Some(&token), None).await;
    assert_eq!(me["available"], 5, "one person, one member: {me}");
    let (_, balance) = push(&text(&openid, now + 2, "积分")).await;
    assert!(balance.contains("你现在有 5 积分"), "{balance}");

    // The next business day: another sign-in.
    advance("1d").await;
    let later = clock().await.epoch_seconds();
    let (_, next_day) = push(&text(&openid, later, "签到")).await;
    assert!(
        next_day.contains("签到成功") && next_day.contains("10 积分"),
        "{next_day}"
    );
    let (token, _) = login(&format!("test:mini-{tag}:u-{tag}")).await;
    let (_, me) = call("GET", "/api/me", Some(&token), None).await;
    assert_eq!(me["available"], 10);

    // Unfollowing keeps the member and its points.
    let (status, body) = push(&event(&openid, later + 5, "unsubscribe", "")).await;
    assert_eq!((status, body.as_str()), (200, "success"));
    assert!(member_of(&openid).await.is_some());
}

#[tokio::test]
async fn a_location_finds_the_nearest_store_within_three_km() {
    let tag = tag();
    // A store of this test's own, far from other test stores (a reused stack keeps the stores of
    // earlier runs: spread over ~220 km, another lands within 600 m once in ~400 runs).
    let here = (
        29.0 + f64::from(fastrand::u32(..200_000)) / 100_000.0,
        106.55,
    );
    test_store_at(&tag, here, &[]).await;
    let openid = format!("oa-{tag}");
    let now = clock().await.epoch_seconds();
    let (status, reply) = push(&location(&openid, now, (here.0 + 0.005, here.1))).await;
    assert_eq!(status, 200);
    assert!(
        reply.contains(&format!("测试店 {tag}")) && reply.contains("积分"),
        "{reply}"
    );
    let (_, far) = push(&location(&openid, now, (45.75, 126.65))).await;
    assert!(far.contains("3 公里内还没有"), "{far}");
    let (_, ask) = push(&text(&openid, now, "附近门店")).await;
    assert!(ask.contains("发送你的位置"), "{ask}");
}

#[tokio::test]
async fn forged_foreign_stale_and_hostile_pushes_are_refused_and_change_nothing() {
    let tag = tag();
    let openid = format!("oa-{tag}");
    let now = clock().await.epoch_seconds();
    let subscribe = event(&openid, now, "subscribe", "");

    let (status, _) = post(
        &format!("timestamp={now}&nonce=1&signature=forged"),
        subscribe.clone(),
    )
    .await;
    assert_eq!(status, 401, "forged signature");
    let (status, _) = post(&signed_query(now - 600, ""), subscribe.clone()).await;
    assert_eq!(status, 401, "stale timestamp");
    let (status, _) = push_encrypted(&subscribe, "wxsomeoneelse0001").await;
    assert_eq!(status, 401, "foreign appid");
    let (status, _) = post(
        &signed_query(now, ""),
        "<!DOCTYPE x [<!ENTITY e \"boom\">]><xml><a>&e;</a></xml>".into(),
    )
    .await;
    assert_eq!(status, 400, "DOCTYPE");
    let (status, _) = post(&signed_query(now, ""), "<xml><MsgType>".into()).await;
    assert_eq!(status, 400, "malformed");
    let (status, _) = post(
        &signed_query(now, ""),
        format!("<xml><a>{}</a></xml>", "x".repeat(70 * 1024)),
    )
    .await;
    assert_eq!(status, 413, "oversize");
    assert_eq!(member_of(&openid).await, None, "nothing was created");

    // An unknown kind of push: `success`, nothing else.
    let (status, body) = push(&event(&openid, now, "VIEW", "https://example.invalid")).await;
    assert_eq!((status, body.as_str()), (200, "success"));
}

#[tokio::test]
async fn an_invite_credits_both_sides_once_and_never_oneself_or_an_old_member() {
    let tag = tag();
    let (referrer_token, _) = login(&format!("test:mini-r-{tag}:u-r-{tag}")).await;
    let (status, code) = call("GET", "/api/me/invite", Some(&referrer_token), None).await;
    assert_eq!(status, 200, "{code}");
    let scene = code["scene"].as_str().unwrap().to_owned();
    assert!(code["qr_image_url"]
        .as_str()
        .unwrap()
        .contains("showqrcode?ticket="));
    let (_, again) = call("GET", "/api/me/invite", Some(&referrer_token), None).await;
    assert_eq!(again["ticket"], code["ticket"], "cached");
    let (status, _) = call("GET", "/api/me/invite", None, None).await;
    assert_eq!(status, 401);

    // A newcomer follows through the code; WeChat delivers the push three times, and once more
    // with another time (not a retry to the dedup table, but the same follow to the ledger).
    let newcomer = format!("oa-n-{tag}");
    let now = clock().await.epoch_seconds();
    let follow = event(&newcomer, now, "subscribe", &format!("qrscene_{scene}"));
    let (_, welcome) = push(&follow).await;
    assert!(
        welcome.contains("邀请奖励") && welcome.contains("100 积分"),
        "{welcome}"
    );
    push(&follow).await;
    push(&follow).await;
    push(&event(
        &newcomer,
        now + 1,
        "subscribe",
        &format!("qrscene_{scene}"),
    ))
    .await;
    let (_, balance) = push(&text(&newcomer, now + 2, "积分")).await;
    assert!(balance.contains("你现在有 100 积分"), "{balance}");
    let (_, me) = call("GET", "/api/me", Some(&referrer_token), None).await;
    assert_eq!(me["available"], 100, "the inviter, once: {me}");

    // The inviter following through their own code: nothing.
    let own = format!("oa-r-{tag}");
    call(
        "POST",
        "/_local/wechat/followers",
        None,
        Some(json!({"openid": own, "unionid": format!("u-r-{tag}")})),
    )
    .await;
    push(&event(
        &own,
        now + 3,
        "subscribe",
        &format!("qrscene_{scene}"),
    ))
    .await;
    // A member Linli had seen minutes before: nothing either.
    let (_, old) = login(&format!("test:mini-o-{tag}:u-o-{tag}")).await;
    let old_openid = format!("oa-o-{tag}");
    call(
        "POST",
        "/_local/wechat/followers",
        None,
        Some(json!({"openid": old_openid, "unionid": format!("u-o-{tag}")})),
    )
    .await;
    advance("5m").await;
    let later = clock().await.epoch_seconds();
    let (_, welcome) = push(&event(
        &old_openid,
        later,
        "subscribe",
        &format!("qrscene_{scene}"),
    ))
    .await;
    assert!(!welcome.contains("邀请奖励"), "{welcome}");
    let (referrer_token, _) = login(&format!("test:mini-r-{tag}:u-r-{tag}")).await;
    let (_, me) = call("GET", "/api/me", Some(&referrer_token), None).await;
    assert_eq!(me["available"], 100, "{me}");
    let (old_token, _) = login(&format!("test:mini-o-{tag}:u-o-{tag}")).await;
    let (_, old_me) = call("GET", "/api/me", Some(&old_token), None).await;
    assert_eq!(
        (old_me["member_id"].as_str(), old_me["available"].as_i64()),
        (Some(old.as_str()), Some(0))
    );
}

#[tokio::test]
async fn an_openid_only_follower_is_merged_once_into_the_mini_program_member_of_its_unionid() {
    let tag = tag();
    let openid = format!("oa-{tag}");
    let now = clock().await.epoch_seconds();
    // WeChat has no UnionID for this follower yet (the OA not yet bound): an OpenID-only member.
    let (_, welcome) = push(&event(&openid, now, "subscribe", "")).await;
    assert!(welcome.contains("0 积分"), "{welcome}");
    let (_, signed) = push(&text(&openid, now, "签到")).await;
    assert!(signed.contains("签到成功"), "{signed}");
    let follower = member_of(&openid).await.unwrap();

    // The same person in the mini-program, with a UnionID: another member, for now.
    let (token, _) = login(&format!("test:mini-{tag}:u-{tag}")).await;
    let (_, me) = call("GET", "/api/me", Some(&token), None).await;
    assert_eq!(me["available"], 0);
    let mini_member = me["member_id"].as_str().unwrap().to_owned();
    assert_ne!(mini_member, follower);

    // The UnionID appears; the next follow merges the follower into the mini-program member.
    let (status, _) = call(
        "POST",
        "/_local/wechat/followers",
        None,
        Some(json!({"openid": openid, "unionid": format!("u-{tag}")})),
    )
    .await;
    assert_eq!(status, 204);
    push(&event(&openid, now + 10, "unsubscribe", "")).await;
    let (_, welcome) = push(&event(&openid, now + 20, "subscribe", "")).await;
    assert!(welcome.contains("你现在有 5 积分"), "{welcome}");
    assert_eq!(member_of(&openid).await.unwrap(), mini_member);
    // Delivered again (and a later follow): nothing moves twice.
    push(&event(&openid, now + 20, "subscribe", "")).await;
    push(&event(&openid, now + 30, "unsubscribe", "")).await;
    push(&event(&openid, now + 40, "subscribe", "")).await;

    let (_, me) = call("GET", "/api/me", Some(&token), None).await;
    assert_eq!(me["available"], 5, "{me}");
    let merges: Vec<_> = me["postings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "merge")
        .collect();
    assert_eq!(merges.len(), 1, "{me}");
    assert_eq!(merges[0]["delta"], 5);
    let (_, balance) = push(&text(&openid, now + 50, "积分")).await;
    assert!(balance.contains("你现在有 5 积分"), "{balance}");
}

#[tokio::test]
async fn a_mini_program_member_without_unionid_is_merged_into_the_followers_member_at_login() {
    let tag = tag();
    let openid = format!("oa-{tag}");
    // The follower's UnionID is known: its member holds it.
    call(
        "POST",
        "/_local/wechat/followers",
        None,
        Some(json!({"openid": openid, "unionid": format!("u-{tag}")})),
    )
    .await;
    let now = clock().await.epoch_seconds();
    push(&event(&openid, now, "subscribe", "")).await;
    let (_, signed) = push(&text(&openid, now, "签到")).await;
    assert!(signed.contains("签到成功"), "{signed}");
    let follower = member_of(&openid).await.unwrap();

    // A mini-program login without a UnionID: an OpenID-only member, which signs in… there
    // is no mini-program sign-in, so it stays empty; its session outlives the merge below.
    let (stale, _) = login(&format!("test:mini-{tag}")).await;
    let (_, me) = call("GET", "/api/me", Some(&stale), None).await;
    assert_ne!(me["member_id"], follower.as_str());

    // Later the login carries the UnionID: the mini-program member joins the follower's.
    let (token, _) = login(&format!("test:mini-{tag}:u-{tag}")).await;
    let (_, me) = call("GET", "/api/me", Some(&token), None).await;
    assert_eq!(me["member_id"], follower.as_str());
    assert_eq!(me["available"], 5);
    let (_, me) = call("GET", "/api/me", Some(&stale), None).await;
    assert_eq!(
        me["member_id"],
        follower.as_str(),
        "an older session reads the member it joined"
    );
    assert_eq!(me["available"], 5);
}

#[tokio::test]
async fn seven_days_in_a_row_earn_the_streak_bonus_on_the_seventh_and_a_gap_starts_again() {
    let tag = tag();
    let openid = format!("oa-{tag}");
    let mut earned = vec![];
    for day in 1..=9 {
        if day > 1 {
            // Day 9 comes after a day without sign-in.
            advance(if day == 9 { "2d" } else { "1d" }).await;
        }
        let now = clock().await.epoch_seconds();
        let (_, reply) = push(&text(&openid, now, "签到")).await;
        assert!(reply.contains("签到成功"), "day {day}: {reply}");
        let gained = reply
            .split_once('+')
            .and_then(|(_, rest)| rest.split_once(' '))
            .map(|(n, _)| n.parse::<i64>().unwrap())
            .unwrap();
        earned.push(gained);
        if day == 7 {
            assert!(reply.contains("连续签到 7 天"), "{reply}");
            // Asked again the same day: no second grant, no second bonus.
            let (_, again) = push(&text(&openid, now + 1, "打卡")).await;
            assert!(!again.contains("签到成功"), "{again}");
            let (_, again) = push(&text(&openid, now + 2, "签到")).await;
            assert!(again.contains("已经签到"), "{again}");
        }
    }
    assert_eq!(earned, [5, 5, 5, 5, 5, 5, 15, 5, 5]);
    let (_, balance) = push(&text(&openid, clock().await.epoch_seconds(), "积分")).await;
    assert!(balance.contains("你现在有 55 积分"), "{balance}");
}
