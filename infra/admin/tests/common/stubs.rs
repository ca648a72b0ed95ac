//! One-purpose HTTP stand-ins for linli-admin's tests: a devstack answering `/_local/stack`,
//! and WeChat Pay answering `secapi/pay/refund` with a signed answer.

use linli::wechat::pay_v2::{sign, SignType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads one HTTP request (headers and a `content-length` body); answers its head and body.
async fn read_request(socket: &mut TcpStream) -> (String, String) {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = socket.read(&mut chunk).await.unwrap();
        bytes.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|n| n.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length || read == 0 {
                return (head.to_owned(), body.to_owned());
            }
        }
        assert!(read > 0, "the request ended early");
    }
}

async fn answer(socket: &mut TcpStream, content_type: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await.unwrap();
}

/// A devstack answering `GET /_local/stack` once, with `ledger` as the LedgerTable.
pub async fn stack_answering(ledger: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let (head, _) = read_request(&mut socket).await;
        assert!(head.starts_with("GET /_local/stack "), "{head}");
        let body = serde_json::json!({"resources": {"LedgerTable": ledger}}).to_string();
        answer(&mut socket, "application/json", &body).await;
    });
    url
}

/// WeChat Pay answering every `POST /secapi/pay/refund` with `result` (`SUCCESS`, or an
/// `err_code` such as `NOTENOUGH`), signed with `api_key` (HMAC-SHA256).
pub async fn wechat_pay_answering(api_key: &'static str, result: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let (head, body) = read_request(&mut socket).await;
            assert!(head.starts_with("POST /secapi/pay/refund "), "{head}");
            assert!(body.contains("<out_refund_no>"), "{body}");
            let mut fields = vec![("return_code", "SUCCESS"), ("nonce_str", "stubnonce")];
            if result == "SUCCESS" {
                fields.extend([
                    ("result_code", "SUCCESS"),
                    ("refund_id", "50000000382019052709732678859"),
                ]);
            } else {
                fields.extend([
                    ("result_code", "FAIL"),
                    ("err_code", result),
                    ("err_code_des", "stub says no"),
                ]);
            }
            let signature = sign(fields.iter().copied(), api_key, SignType::HmacSha256);
            let mut xml = String::from("<xml>");
            for (k, v) in fields.iter().chain([("sign", signature.as_str())].iter()) {
                xml.push_str(&format!("<{k}><![CDATA[{v}]]></{k}>"));
            }
            xml.push_str("</xml>");
            answer(&mut socket, "text/xml", &xml).await;
        }
    });
    url
}
