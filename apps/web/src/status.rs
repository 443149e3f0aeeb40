//! Typed service status: how the console reads `GET /health` and `GET /ready`.
//!
//! Plain functions over an HTTP status code and body, so they are tested on the host. The
//! browser side (`api`) only fetches and hands the reply here.

use std::fmt;

use serde_json::Value;

/// The raw answer of one HTTP request, before interpretation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpReply {
    /// HTTP status code.
    pub status: u16,
    /// Response body as text (may be empty).
    pub body: String,
}

/// Why a request got no HTTP answer at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchError {
    /// The browser could not complete the request: connection refused, DNS, TLS, or a CORS
    /// rejection (browsers do not tell these apart to scripts).
    Network(String),
    /// No answer within the time limit.
    Timeout { seconds: u32 },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(detail) if detail.is_empty() => f.write_str(
                "no response: the service is down, or it does not allow this origin (CORS)",
            ),
            Self::Network(detail) => write!(
                f,
                "no response ({detail}): the service is down, or it does not allow this origin \
                 (CORS)"
            ),
            Self::Timeout { seconds } => write!(f, "no response within {seconds} s"),
        }
    }
}

/// Liveness of one service, from `GET /health`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// 2xx. `detail` is a short description the service gave (version, status text), if any.
    Up { detail: Option<String> },
    /// The service answered, but not with 2xx.
    Down {
        http_status: u16,
        detail: Option<String>,
    },
    /// The request got no answer.
    Unreachable { reason: String },
}

impl Health {
    /// Whether the service answered its health check successfully.
    pub fn is_up(&self) -> bool {
        matches!(self, Self::Up { .. })
    }
}

/// Interprets the outcome of `GET /health`.
pub fn interpret_health(reply: Result<HttpReply, FetchError>) -> Health {
    match reply {
        Err(e) => Health::Unreachable {
            reason: e.to_string(),
        },
        Ok(reply) if is_success(reply.status) => Health::Up {
            detail: health_detail(&reply.body),
        },
        Ok(reply) => Health::Down {
            http_status: reply.status,
            detail: error_detail(&reply.body),
        },
    }
}

/// State of one readiness check, e.g. `"database": "ok"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckState {
    /// `"ok"`.
    Ok,
    /// `"error"` or `"error: <message>"`; holds the message (or `"error"`).
    Failing(String),
    /// Anything else the service reports (`"skipped"`, `"disabled"`, ...), shown as given.
    Other(String),
}

impl CheckState {
    /// Parses one check value. Strings are the contract; booleans and `{"status": ...}`
    /// objects are accepted so that a richer format later does not break the console.
    pub fn from_value(value: &Value) -> Self {
        match value {
            Value::String(s) => Self::from_text(s),
            Value::Bool(true) => Self::Ok,
            Value::Bool(false) => Self::Failing("false".to_owned()),
            Value::Object(map) => {
                let state = map
                    .get("status")
                    .map_or_else(|| Self::Other(value.to_string()), Self::from_value);
                let message = ["error", "message", "detail"]
                    .iter()
                    .find_map(|k| map.get(*k).and_then(Value::as_str));
                match (state, message) {
                    (Self::Failing(_), Some(m)) => Self::Failing(m.to_owned()),
                    (state, _) => state,
                }
            }
            Value::Null => Self::Other("unknown".to_owned()),
            other => Self::Other(other.to_string()),
        }
    }

    fn from_text(text: &str) -> Self {
        let trimmed = text.trim();
        let lower = trimmed.to_ascii_lowercase();
        if lower == "ok" {
            return Self::Ok;
        }
        if lower == "error" || lower == "fail" || lower == "failed" {
            return Self::Failing(trimmed.to_owned());
        }
        if let Some(rest) = ["error:", "fail:", "failed:"]
            .iter()
            .find_map(|p| lower.starts_with(p).then(|| &trimmed[p.len()..]))
        {
            let rest = rest.trim();
            return Self::Failing(if rest.is_empty() { "error" } else { rest }.to_owned());
        }
        Self::Other(trimmed.to_owned())
    }

    /// Whether this check is reported as failing.
    pub fn is_failing(&self) -> bool {
        matches!(self, Self::Failing(_))
    }
}

/// One named readiness check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// Check name, e.g. `database`.
    pub name: String,
    /// Its state.
    pub state: CheckState,
}

/// The body of `GET /ready`: `{"status":"ready","checks":{"database":"ok",...}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyReport {
    /// The overall word the service used (`ready`, `not_ready`, ...).
    pub status: String,
    /// Checks, sorted by name.
    pub checks: Vec<Check>,
}

impl ReadyReport {
    /// Checks that are failing.
    pub fn failing(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.state.is_failing())
    }
}

/// Why a ready body could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadyParseError {
    /// Not JSON, or not a JSON object.
    NotJsonObject,
    /// `checks` is present but not an object.
    ChecksNotObject,
}

impl fmt::Display for ReadyParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJsonObject => f.write_str("the ready answer is not a JSON object"),
            Self::ChecksNotObject => f.write_str("`checks` in the ready answer is not an object"),
        }
    }
}

/// Parses the JSON body of `GET /ready`.
pub fn parse_ready(body: &str) -> Result<ReadyReport, ReadyParseError> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) else {
        return Err(ReadyParseError::NotJsonObject);
    };
    let status = map
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut checks = match map.get("checks") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(checks)) => checks
            .iter()
            .map(|(name, value)| Check {
                name: name.clone(),
                state: CheckState::from_value(value),
            })
            .collect(),
        Some(_) => return Err(ReadyParseError::ChecksNotObject),
    };
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ReadyReport { status, checks })
}

/// Readiness of permesi, from `GET /ready`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// 2xx, status `ready` and no failing check.
    Ready(ReadyReport),
    /// The service answered that it is not ready (usually 503), or answered 2xx with a failing
    /// check. `report` is absent when the body could not be parsed; `detail` then says why.
    NotReady {
        http_status: u16,
        report: Option<ReadyReport>,
        detail: Option<String>,
    },
    /// The request got no answer.
    Unreachable { reason: String },
}

impl Readiness {
    /// Whether the service is ready to serve.
    pub fn is_ready(&self) -> bool {
        matches!(self, Self::Ready(_))
    }
}

/// Interprets the outcome of `GET /ready`.
pub fn interpret_ready(reply: Result<HttpReply, FetchError>) -> Readiness {
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => {
            return Readiness::Unreachable {
                reason: e.to_string(),
            };
        }
    };
    match parse_ready(&reply.body) {
        Ok(report)
            if is_success(reply.status)
                && report.status.eq_ignore_ascii_case("ready")
                && report.failing().next().is_none() =>
        {
            Readiness::Ready(report)
        }
        Ok(report) => {
            // Failing checks speak for themselves; otherwise say what the service reported.
            let detail = (report.failing().next().is_none()
                && !report.status.eq_ignore_ascii_case("ready"))
            .then(|| format!("status is \"{}\"", report.status));
            Readiness::NotReady {
                http_status: reply.status,
                report: Some(report),
                detail,
            }
        }
        Err(e) => Readiness::NotReady {
            http_status: reply.status,
            report: None,
            detail: Some(error_detail(&reply.body).unwrap_or_else(|| e.to_string())),
        },
    }
}

/// Overall state of the stack, for the summary banner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overall {
    /// At least one probe has not answered yet.
    Checking,
    /// Both services are up and permesi is ready.
    Operational,
    /// Something answered, something did not (or permesi is up but not ready).
    Degraded,
    /// Nothing is up.
    Down,
}

/// Summarises the three probes; `None` means that probe is still running.
pub fn overall(services: &[(Option<&Health>, Option<&Readiness>)]) -> Overall {
    let mut answers = Vec::with_capacity(services.len() * 2);
    for (health, ready) in services {
        let (Some(health), Some(ready)) = (health, ready) else {
            return Overall::Checking;
        };
        answers.extend([health.is_up(), ready.is_ready()]);
    }
    if answers.iter().all(|ok| *ok) {
        Overall::Operational
    } else if answers.iter().all(|ok| !*ok) {
        Overall::Down
    } else {
        Overall::Degraded
    }
}

/// How a status is shown: the colour family of its badge. Text always says the same thing,
/// so colour is never the only signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Still checking.
    Pending,
    /// Healthy.
    Good,
    /// Answering, but not fully working.
    Warn,
    /// Down or unreachable.
    Bad,
    /// Informational.
    Neutral,
}

impl Health {
    /// Short badge text.
    pub fn label(&self) -> String {
        match self {
            Self::Up { .. } => "Up".to_owned(),
            Self::Down { http_status, .. } => format!("Down (HTTP {http_status})"),
            Self::Unreachable { .. } => "Unreachable".to_owned(),
        }
    }

    /// Badge tone.
    pub fn tone(&self) -> Tone {
        match self {
            Self::Up { .. } => Tone::Good,
            Self::Down { .. } | Self::Unreachable { .. } => Tone::Bad,
        }
    }

    /// Extra text shown under the badge.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Up { detail } | Self::Down { detail, .. } => detail.as_deref(),
            Self::Unreachable { reason } => Some(reason),
        }
    }
}

impl Readiness {
    /// Short badge text.
    pub fn label(&self) -> String {
        match self {
            Self::Ready(_) => "Ready".to_owned(),
            Self::NotReady { http_status, .. } => format!("Not ready (HTTP {http_status})"),
            Self::Unreachable { .. } => "Unreachable".to_owned(),
        }
    }

    /// Badge tone.
    pub fn tone(&self) -> Tone {
        match self {
            Self::Ready(_) => Tone::Good,
            Self::NotReady { .. } => Tone::Warn,
            Self::Unreachable { .. } => Tone::Bad,
        }
    }

    /// Extra text shown under the badge.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Ready(_) => None,
            Self::NotReady { detail, .. } => detail.as_deref(),
            Self::Unreachable { reason } => Some(reason),
        }
    }

    /// The checks the service reported, if it sent a readable report.
    pub fn checks(&self) -> &[Check] {
        match self {
            Self::Ready(report)
            | Self::NotReady {
                report: Some(report),
                ..
            } => &report.checks,
            _ => &[],
        }
    }
}

impl CheckState {
    /// Short badge text.
    pub fn label(&self) -> &str {
        match self {
            Self::Ok => "ok",
            Self::Failing(_) => "error",
            Self::Other(word) => word,
        }
    }

    /// Badge tone.
    pub fn tone(&self) -> Tone {
        match self {
            Self::Ok => Tone::Good,
            Self::Failing(_) => Tone::Bad,
            Self::Other(_) => Tone::Neutral,
        }
    }

    /// The failure message, if failing.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Failing(message) if message != "error" => Some(message),
            _ => None,
        }
    }
}

impl Overall {
    /// Headline for the summary banner.
    pub fn headline(self) -> &'static str {
        match self {
            Self::Checking => "Checking services…",
            Self::Operational => "All services operational",
            Self::Degraded => "Some services need attention",
            Self::Down => "Services are down or unreachable",
        }
    }

    /// Banner tone.
    pub fn tone(self) -> Tone {
        match self {
            Self::Checking => Tone::Pending,
            Self::Operational => Tone::Good,
            Self::Degraded => Tone::Warn,
            Self::Down => Tone::Bad,
        }
    }
}

/// `HH:MM:SS` for the "last checked" line.
pub fn clock(hours: u32, minutes: u32, seconds: u32) -> String {
    format!("{hours:02}:{minutes:02}:{seconds:02}")
}

const fn is_success(status: u16) -> bool {
    status >= 200 && status < 300
}

/// Longest detail text shown from a response body.
const MAX_DETAIL: usize = 160;

/// A short description from a successful health body: `version` (with `name`) or `status`
/// from a JSON object, or the body text itself when it is short plain text.
fn health_detail(body: &str) -> Option<String> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => {
            let field = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
            match (field("name"), field("version"), field("status")) {
                (Some(name), Some(version), _) => Some(format!("{name} {version}")),
                (None, Some(version), _) => Some(format!("version {version}")),
                (_, None, Some(status)) => Some(status),
                _ => None,
            }
        }
        Ok(_) => None,
        Err(_) => short_text(body),
    }
}

/// A short description from an error body: problem+json `detail`/`title`, an `error` or
/// `status` field, or the body text.
fn error_detail(body: &str) -> Option<String> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => ["detail", "title", "error", "message", "status"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str))
            .and_then(short_text),
        Ok(_) => None,
        Err(_) => short_text(body),
    }
}

fn short_text(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('<') {
        // Empty, or an HTML error page from a proxy: not worth showing.
        return None;
    }
    let mut out: String = text.chars().take(MAX_DETAIL).collect();
    if text.chars().nth(MAX_DETAIL).is_some() {
        out.push('…');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[expect(clippy::unnecessary_wraps, reason = "mirrors what api::get returns")]
    fn reply(status: u16, body: &str) -> Result<HttpReply, FetchError> {
        Ok(HttpReply {
            status,
            body: body.to_owned(),
        })
    }

    #[test]
    fn ready_body_parses_into_sorted_checks() {
        let report = parse_ready(
            r#"{"status":"ready","checks":{"keys":"ok","database":"ok","cache":"ok"}}"#,
        )
        .expect("parses");
        assert_eq!(report.status, "ready");
        let names: Vec<_> = report.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["cache", "database", "keys"]);
        assert!(report.checks.iter().all(|c| c.state == CheckState::Ok));
    }

    #[test]
    fn ready_200_is_ready() {
        let r = interpret_ready(reply(
            200,
            r#"{"status":"ready","checks":{"database":"ok","cache":"ok","keys":"ok"}}"#,
        ));
        assert!(r.is_ready(), "{r:?}");
    }

    #[test]
    fn ready_503_marks_the_failing_check() {
        let r = interpret_ready(reply(
            503,
            r#"{"status":"not_ready","checks":{"database":"error: connection refused","cache":"ok","keys":"ok"}}"#,
        ));
        let Readiness::NotReady {
            http_status,
            report: Some(report),
            ..
        } = r
        else {
            panic!("expected not ready with a report, got {r:?}");
        };
        assert_eq!(http_status, 503);
        let failing: Vec<_> = report.failing().collect();
        assert_eq!(failing.len(), 1);
        assert_eq!(failing[0].name, "database");
        assert_eq!(
            failing[0].state,
            CheckState::Failing("connection refused".to_owned())
        );
    }

    #[test]
    fn ready_200_with_failing_check_is_not_ready() {
        let r = interpret_ready(reply(
            200,
            r#"{"status":"ready","checks":{"cache":"error"}}"#,
        ));
        assert!(!r.is_ready());
    }

    #[test]
    fn ready_200_with_other_status_word_is_not_ready() {
        let r = interpret_ready(reply(200, r#"{"status":"starting","checks":{}}"#));
        let Readiness::NotReady { detail, .. } = r else {
            panic!("expected not ready");
        };
        assert_eq!(detail.as_deref(), Some("status is \"starting\""));
    }

    #[test]
    fn ready_with_non_json_body_keeps_the_text() {
        let r = interpret_ready(reply(502, "Bad Gateway"));
        assert_eq!(
            r,
            Readiness::NotReady {
                http_status: 502,
                report: None,
                detail: Some("Bad Gateway".to_owned()),
            }
        );
        let r = interpret_ready(reply(502, "<html><body>502</body></html>"));
        assert_eq!(
            r,
            Readiness::NotReady {
                http_status: 502,
                report: None,
                detail: Some(ReadyParseError::NotJsonObject.to_string()),
            }
        );
    }

    #[test]
    fn ready_unreachable() {
        let r = interpret_ready(Err(FetchError::Timeout { seconds: 5 }));
        assert_eq!(
            r,
            Readiness::Unreachable {
                reason: "no response within 5 s".to_owned()
            }
        );
    }

    #[test]
    fn checks_must_be_an_object() {
        assert_eq!(
            parse_ready(r#"{"status":"ready","checks":["database"]}"#),
            Err(ReadyParseError::ChecksNotObject)
        );
        assert_eq!(parse_ready("[]"), Err(ReadyParseError::NotJsonObject));
        assert_eq!(
            parse_ready(r#"{"status":"ready"}"#).map(|r| r.checks.len()),
            Ok(0)
        );
    }

    #[test]
    fn check_values() {
        use serde_json::json;
        assert_eq!(CheckState::from_value(&json!("ok")), CheckState::Ok);
        assert_eq!(CheckState::from_value(&json!("OK")), CheckState::Ok);
        assert_eq!(
            CheckState::from_value(&json!("error")),
            CheckState::Failing("error".to_owned())
        );
        assert_eq!(
            CheckState::from_value(&json!("error: pool timed out")),
            CheckState::Failing("pool timed out".to_owned())
        );
        assert_eq!(
            CheckState::from_value(&json!("Error:")),
            CheckState::Failing("error".to_owned())
        );
        assert_eq!(
            CheckState::from_value(&json!("skipped")),
            CheckState::Other("skipped".to_owned())
        );
        assert_eq!(CheckState::from_value(&json!(true)), CheckState::Ok);
        assert!(CheckState::from_value(&json!(false)).is_failing());
        assert_eq!(
            CheckState::from_value(&json!({"status": "error", "error": "boom"})),
            CheckState::Failing("boom".to_owned())
        );
        assert_eq!(
            CheckState::from_value(&json!({"status": "ok", "latency_ms": 3})),
            CheckState::Ok
        );
        assert_eq!(
            CheckState::from_value(&json!(null)),
            CheckState::Other("unknown".to_owned())
        );
    }

    #[test]
    fn health_up_with_details() {
        assert_eq!(
            interpret_health(reply(200, r#"{"name":"genesis","version":"0.1.0"}"#)),
            Health::Up {
                detail: Some("genesis 0.1.0".to_owned())
            }
        );
        assert_eq!(
            interpret_health(reply(200, r#"{"status":"ok"}"#)),
            Health::Up {
                detail: Some("ok".to_owned())
            }
        );
        assert_eq!(
            interpret_health(reply(204, "")),
            Health::Up { detail: None }
        );
        assert_eq!(
            interpret_health(reply(200, "OK\n")),
            Health::Up {
                detail: Some("OK".to_owned())
            }
        );
    }

    #[test]
    fn health_down_reads_problem_json() {
        assert_eq!(
            interpret_health(reply(
                500,
                r#"{"type":"about:blank","title":"Internal Server Error","detail":"boom"}"#
            )),
            Health::Down {
                http_status: 500,
                detail: Some("boom".to_owned())
            }
        );
        assert_eq!(
            interpret_health(reply(502, "<html>bad gateway</html>")),
            Health::Down {
                http_status: 502,
                detail: None
            }
        );
    }

    #[test]
    fn health_unreachable_says_why() {
        let Health::Unreachable { reason } = interpret_health(Err(FetchError::Network(
            "TypeError: Failed to fetch".to_owned(),
        ))) else {
            panic!("expected unreachable");
        };
        assert!(reason.contains("Failed to fetch"), "{reason}");
        assert!(reason.contains("CORS"), "{reason}");
    }

    #[test]
    fn long_bodies_are_shortened() {
        let body = "x".repeat(500);
        let Health::Down {
            detail: Some(detail),
            ..
        } = interpret_health(reply(500, &body))
        else {
            panic!("expected down with detail");
        };
        assert_eq!(detail.chars().count(), MAX_DETAIL + 1);
        assert!(detail.ends_with('…'));
    }

    #[test]
    fn overall_summary() {
        let up = Health::Up { detail: None };
        let gone = Health::Unreachable {
            reason: "x".to_owned(),
        };
        let ready = Readiness::Ready(ReadyReport {
            status: "ready".to_owned(),
            checks: vec![],
        });
        let unready = Readiness::Unreachable {
            reason: "x".to_owned(),
        };
        let both = |g: (Option<&Health>, Option<&Readiness>), p| overall(&[g, p]);
        assert_eq!(
            both((None, Some(&ready)), (Some(&up), Some(&ready))),
            Overall::Checking
        );
        assert_eq!(
            both((Some(&up), Some(&ready)), (Some(&up), None)),
            Overall::Checking
        );
        assert_eq!(
            both((Some(&up), Some(&ready)), (Some(&up), Some(&ready))),
            Overall::Operational
        );
        assert_eq!(
            both((Some(&gone), Some(&unready)), (Some(&up), Some(&ready))),
            Overall::Degraded
        );
        assert_eq!(
            both((Some(&up), Some(&unready)), (Some(&up), Some(&ready))),
            Overall::Degraded
        );
        assert_eq!(
            both((Some(&gone), Some(&unready)), (Some(&gone), Some(&unready))),
            Overall::Down
        );
    }

    #[test]
    fn labels_and_tones() {
        let down = Health::Down {
            http_status: 500,
            detail: None,
        };
        assert_eq!(down.label(), "Down (HTTP 500)");
        assert_eq!(down.tone(), Tone::Bad);
        let gone = Health::Unreachable {
            reason: "no response".to_owned(),
        };
        assert_eq!(gone.label(), "Unreachable");
        assert_eq!(gone.detail(), Some("no response"));

        let r = interpret_ready(reply(
            503,
            r#"{"status":"not_ready","checks":{"database":"error: down","cache":"ok"}}"#,
        ));
        assert_eq!(r.label(), "Not ready (HTTP 503)");
        assert_eq!(r.tone(), Tone::Warn);
        let checks = r.checks();
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[1].state.label(), "error");
        assert_eq!(checks[1].state.detail(), Some("down"));
        assert_eq!(CheckState::Failing("error".to_owned()).detail(), None);
        assert_eq!(CheckState::Other("skipped".to_owned()).label(), "skipped");

        assert_eq!(Overall::Operational.tone(), Tone::Good);
        assert_eq!(Overall::Down.headline(), "Services are down or unreachable");
    }

    #[test]
    fn clock_pads() {
        assert_eq!(clock(9, 5, 0), "09:05:00");
        assert_eq!(clock(23, 59, 59), "23:59:59");
    }
}
