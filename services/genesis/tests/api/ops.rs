//! Operational behaviour: health, readiness, metrics, errors, CORS, OpenAPI, serving,
//! configuration, shutdown and tracing.

use std::process::Command;

use genesis::Genesis;
use reqwest::{StatusCode, header};
use server::{
    backends::{Connect, Dependencies},
    cli::Service,
};
use testkit::TestServer;

use crate::common::{genesis_binary, json, settings, start};

#[tokio::test]
async fn health_answers_with_a_request_id() {
    let (server, _keys) = start().await;
    let client = reqwest::Client::new();
    let response = client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-request-id"));
    let body = json(response).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["service"], "genesis");

    // A request id sent by a proxy is kept, so logs of both hops correlate.
    let response = client
        .get(server.url("/health"))
        .header("x-request-id", "edge-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "edge-42");

    // One that is too long or oddly shaped is replaced, never carried into logs and audit.
    for bad in [
        "a".repeat(300),
        "has space".to_owned(),
        "quote\"d".to_owned(),
    ] {
        let response = client
            .get(server.url("/health"))
            .header("x-request-id", &bad)
            .send()
            .await
            .unwrap();
        let echoed = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(echoed, bad);
        assert!(
            server::middleware::usable_request_id(echoed.as_bytes()),
            "{echoed}"
        );
    }
}

#[tokio::test]
async fn ready_checks_database_cache_and_keys() {
    let (server, _keys) = start().await;
    let response = reqwest::get(server.url("/ready")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(response).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["cache"], "ok");
    assert_eq!(body["checks"]["keys"], "ok");
}

#[tokio::test]
async fn ready_names_the_failed_dependency() {
    let keys = tempfile::tempdir().unwrap();
    let settings = settings(&keys).await;
    let dependencies = Dependencies::connect(Connect {
        database_url: settings.database_url.as_ref(),
        database_max_connections: 1,
        migrator: Genesis::migrator(),
        cache_url: None,
        keys: settings.keys_config().unwrap(),
    })
    .await
    .unwrap();
    // The database goes away after start-up.
    dependencies.database.as_ref().unwrap().close().await;
    let app = genesis::app::assemble(&settings, dependencies)
        .await
        .unwrap();
    let server = TestServer::start(app.router).await;

    let response = reqwest::get(server.url("/ready")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = json(response).await;
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["database"], "error: unavailable");
    assert_eq!(body["checks"]["cache"], "disabled");
    assert_eq!(body["checks"]["keys"], "ok");
}

#[tokio::test]
async fn migrations_are_applied_at_start() {
    let keys = tempfile::tempdir().unwrap();
    let settings = settings(&keys).await;
    let url = settings.database_url.clone().unwrap();
    let _app = Genesis::build(settings).await.unwrap();
    let pool = sqlx::PgPool::connect(url.expose()).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM admission_audit")
        .fetch_one(&pool)
        .await
        .expect("the admission_audit table exists");
    assert_eq!(n, 0);
}

#[tokio::test]
async fn metrics_count_requests_per_route_template() {
    let (server, _keys) = start().await;
    for _ in 0..3 {
        reqwest::get(server.url("/health")).await.unwrap();
    }
    reqwest::get(server.url("/no/such/thing")).await.unwrap();
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"genesis_http_requests_total{method="GET",route="/health",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"genesis_http_request_duration_seconds_count{method="GET",route="/health"} 3"#
        ),
        "{text}"
    );
    // Raw paths never become labels.
    assert!(!text.contains("/no/such/thing"), "{text}");
}

#[tokio::test]
async fn bad_requests_get_problem_json() {
    let (server, _keys) = start().await;
    let client = reqwest::Client::new();

    let response = client.get(server.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(json(response).await["code"], "not_found");

    let response = client.delete(server.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(json(response).await["code"], "method_not_allowed");

    // max_body_bytes is 1024 here: 1024 bytes pass the limit, 1025 do not.
    let response = client
        .post(server.url("/health"))
        .body(vec![b'x'; 1025])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(json(response).await["code"], "payload_too_large");
    let response = client
        .post(server.url("/health"))
        .body(vec![b'x'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn cors_allows_the_console_origin_only() {
    let (server, _keys) = start().await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, server.url("/health"))
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .send()
    };
    let allowed = preflight("http://localhost:8080").await.unwrap();
    assert_eq!(
        allowed.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://localhost:8080"
    );
    assert_eq!(
        allowed.headers()[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
        "true"
    );
    let foreign = preflight("https://evil.example").await.unwrap();
    assert!(
        !foreign
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
}

#[tokio::test]
async fn served_openapi_matches_the_code_and_the_checked_in_spec() {
    let (server, _keys) = start().await;
    let from_server: serde_json::Value = reqwest::get(server.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let generated = serde_json::to_value(Genesis::openapi()).unwrap();
    assert_eq!(from_server, generated);
    testkit::assert_openapi_current("genesis", &generated);
}

#[tokio::test]
async fn serves_on_a_unix_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let keys = tempfile::tempdir().unwrap();
    let socket = keys.path().join("genesis.sock");
    let app = Genesis::build(settings(&keys).await).await.unwrap();
    let listen = server::ListenAddr::Unix(socket.clone());
    let task = tokio::spawn(async move { server::serve::serve(app.router, &listen).await });
    let mut stream = loop {
        // Bounded wait for the socket to appear; not a timing assertion.
        if let Ok(s) = tokio::net::UnixStream::connect(&socket).await {
            break s;
        }
        assert!(!task.is_finished(), "server exited early");
        tokio::task::yield_now().await;
    };
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: genesis\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""service":"genesis""#), "{response}");
    task.abort();
}

#[test]
fn bad_configuration_stops_start_up_with_one_line_naming_the_setting() {
    let cases = [
        (
            "GENESIS_LISTN",
            "127.0.0.1:1",
            "genesis: unknown setting GENESIS_LISTN",
        ),
        (
            "GENESIS_MAX_BODY_BYTES",
            "huge",
            "genesis: invalid setting GENESIS_MAX_BODY_BYTES",
        ),
        (
            "GENESIS_LISTEN",
            "somewhere",
            "genesis: invalid setting GENESIS_LISTEN",
        ),
        (
            "GENESIS_REQUEST_TIMEOUT_MS",
            "5",
            "genesis: invalid setting GENESIS_REQUEST_TIMEOUT_MS",
        ),
    ];
    for (var, value, expected) in cases {
        let out = genesis_binary().env(var, value).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(expected), "{var}: {stderr}");
        assert!(
            !stderr.contains(value) || value == "127.0.0.1:1",
            "value echoed: {stderr}"
        );
    }
}

#[test]
fn secrets_are_not_printed_at_start() {
    let keys = tempfile::tempdir().unwrap();
    let out = genesis_binary()
        .env(
            "GENESIS_DATABASE_URL",
            "postgres://genesis:s3cr3t-pw@127.0.0.1:1/genesis",
        )
        .env("GENESIS_KEYS_DIR", keys.path().join("keys"))
        .env("GENESIS_LOG_FORMAT", "json")
        .output()
        .unwrap();
    // The database is unreachable, so start-up fails, naming it without the password.
    assert_eq!(out.status.code(), Some(2));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("database"), "{all}");
    assert!(!all.contains("s3cr3t-pw"), "{all}");
}

#[test]
fn sigterm_shuts_down_gracefully() {
    use std::io::BufRead;
    let keys = tempfile::tempdir().unwrap();
    let mut child = genesis_binary()
        .env("GENESIS_LISTEN", "127.0.0.1:0")
        .env("GENESIS_KEYS_DIR", keys.path().join("keys"))
        .env("GENESIS_LOG_FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The "listening" log line says it is serving; no sleeping and hoping.
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .inspect(|line| seen.push(line.clone()))
        .find(|line| line.contains(r#""message":"listening""#));
    assert!(
        listening.is_some(),
        "genesis exited before listening: {seen:?}"
    );
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = crate::common::wait_bounded(&mut child, std::time::Duration::from_mins(1));
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("shutdown signal received")),
        "{rest:?}"
    );
}

#[test]
fn traces_are_exported_over_otlp_when_an_endpoint_is_set() {
    use std::io::{BufRead, BufReader, Read, Write};
    // A minimal OTLP/HTTP receiver: records the first request line and answers 200.
    let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", collector.local_addr().unwrap());
    let (tx, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (stream, _) = collector.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header == "\r\n" || header.is_empty() {
                break;
            }
            if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        let _ = tx.send((request_line, body));
    });

    let keys = tempfile::tempdir().unwrap();
    let mut child = genesis_binary()
        .env("GENESIS_LISTEN", "127.0.0.1:0")
        .env("GENESIS_KEYS_DIR", keys.path().join("keys"))
        .env("GENESIS_LOG_FORMAT", "json")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains(r#""message":"listening""#))
        .expect("genesis listens");
    let v: serde_json::Value = serde_json::from_str(&listening).unwrap();
    let addr = v["listen"].as_str().unwrap().to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"));
    // Shutdown flushes the batch of spans to the collector.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    // Bounded, so a broken exporter fails the test instead of hanging the suite.
    let Ok((request_line, body)) = received.recv_timeout(std::time::Duration::from_mins(1)) else {
        let _ = child.kill();
        panic!("no OTLP export received");
    };
    assert!(
        request_line.starts_with("POST /v1/traces "),
        "{request_line}"
    );
    // The protobuf payload names the service and the request span.
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("genesis"), "service.name missing");
    assert!(text.contains("request"), "request span missing");
    assert!(crate::common::wait_bounded(&mut child, std::time::Duration::from_mins(1)).success());
}
