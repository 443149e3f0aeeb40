//! Tenancy over HTTP: organizations, members, invitations, projects, environments and
//! applications, who may touch them, the rules the database enforces, and the audit trail.
// Each test is one scenario told top to bottom; splitting it would hide the story.
#![allow(clippy::too_many_lines)]

use std::collections::HashSet;

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{
    auth::{Stack, code},
    session::logged_in,
};

/// A logged-in user of a stack.
struct User<'a> {
    stack: &'a Stack,
    cookie: String,
    http: reqwest::Client,
}

impl<'a> User<'a> {
    async fn new(stack: &'a Stack, email: &str) -> Self {
        Self {
            stack,
            cookie: logged_in(stack, email).await,
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> reqwest::Response {
        let mut request = self
            .http
            .request(method, self.stack.permesi.url(path))
            .header(header::COOKIE, &self.cookie);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    /// Sends and expects `status`; returns the JSON body (`Null` when empty).
    async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        status: StatusCode,
    ) -> Value {
        let response = self.send(method.clone(), path, body).await;
        let got = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{method} {path}: {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    async fn get(&self, path: &str) -> Value {
        self.expect(Method::GET, path, None, StatusCode::OK).await
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        self.expect(Method::POST, path, Some(body), StatusCode::CREATED)
            .await
    }

    /// Expects a problem with this status and code.
    async fn refused(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        status: StatusCode,
        expected: &str,
    ) {
        let response = self.send(method.clone(), path, body).await;
        assert_eq!(response.status(), status, "{method} {path}");
        assert_eq!(code(response).await, expected, "{method} {path}");
    }

    async fn id(&self) -> String {
        self.get("/v1/me").await["id"].as_str().unwrap().to_owned()
    }
}

/// The token of the newest invitation mail not seen before.
async fn next_invitation(stack: &Stack, seen: &mut HashSet<String>) -> String {
    for _ in 0..500 {
        if let Some(link) =
            permesi::verification::latest_link_to(&stack.mail, "/invitations/accept").unwrap()
            && seen.insert(link.clone())
        {
            assert!(link.starts_with("http://localhost:8080/invitations/accept#token="));
            return link.split("token=").nth(1).unwrap().to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no new invitation mail");
}

async fn pool(stack: &Stack) -> sqlx::PgPool {
    sqlx::PgPool::connect(&stack.database_url).await.unwrap()
}

const ORG: &str = "/v1/orgs/acme";
const PROJECT: &str = "/v1/orgs/acme/projects/shop";
const PROD: &str = "/v1/orgs/acme/projects/shop/environments/prod";
const APPS: &str = "/v1/orgs/acme/projects/shop/environments/prod/applications";
const APP: &str = "/v1/orgs/acme/projects/shop/environments/prod/applications/web";

fn web_app() -> Value {
    json!({
        "slug": "web", "name": "Web", "client_type": "confidential",
        "redirect_uris": ["https://shop.example.com/callback"],
    })
}

/// `acme` with project `shop`, its `prod` environment and the `web` application.
async fn acme(owner: &User<'_>) {
    owner
        .post("/v1/orgs", &json!({ "slug": "acme", "name": "Acme" }))
        .await;
    owner
        .post(
            "/v1/orgs/acme/projects",
            &json!({ "slug": "shop", "name": "Shop" }),
        )
        .await;
    owner
        .post(
            &format!("{PROJECT}/environments"),
            &json!({ "slug": "prod", "name": "Production", "tier": "production" }),
        )
        .await;
    owner.post(APPS, &web_app()).await;
}

/// Invites `email` to acme with `role`, and has `invitee` accept.
async fn join(
    owner: &User<'_>,
    invitee: &User<'_>,
    email: &str,
    role: &str,
    seen: &mut HashSet<String>,
) {
    owner
        .post(
            &format!("{ORG}/invitations"),
            &json!({ "email": email, "role": role }),
        )
        .await;
    let token = next_invitation(owner.stack, seen).await;
    let joined = invitee
        .expect(
            Method::POST,
            "/v1/invitations/accept",
            Some(&json!({ "token": token })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(joined["role"], role);
}

#[tokio::test]
async fn a_newcomer_builds_an_org_invites_a_member_and_sees_every_step_in_the_audit_log() {
    let stack = Stack::start().await;
    let ada = User::new(&stack, "ada@example.com").await;
    let bob = User::new(&stack, "bob@example.com").await;

    let org = ada
        .post(
            "/v1/orgs",
            &json!({ "slug": "acme", "name": " Acme Corp " }),
        )
        .await;
    assert_eq!(
        (&org["slug"], &org["name"], &org["role"]),
        (&json!("acme"), &json!("Acme Corp"), &json!("owner"))
    );
    ada.post(
        "/v1/orgs/acme/projects",
        &json!({ "slug": "shop", "name": "Shop" }),
    )
    .await;
    let envs = format!("{PROJECT}/environments");
    let prod = ada
        .post(
            &envs,
            &json!({ "slug": "prod", "name": "Production", "tier": "production" }),
        )
        .await;
    assert_eq!(prod["tier"], "production");
    ada.post(
        &envs,
        &json!({ "slug": "staging", "name": "Staging", "tier": "staging" }),
    )
    .await;
    let listed = ada.get(&envs).await;
    let slugs: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["prod", "staging"]);

    // The client secret is shown once, never listed, and not stored in clear.
    let created = ada.post(APPS, &web_app()).await;
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43);
    let client_id = created["application"]["client_id"].as_str().unwrap();
    assert_eq!(
        created["application"]["grant_types"][0],
        "authorization_code"
    );
    assert_eq!(created["application"]["allowed_scopes"], json!(["openid"]));
    let shown = ada.get(APP).await;
    assert_eq!(shown["client_id"], client_id);
    assert!(shown.get("client_secret").is_none());
    assert!(!ada.get(APPS).await.to_string().contains(&secret));
    let db = pool(&stack).await;
    let (row,): (String,) = sqlx::query_as("SELECT row_to_json(a)::text FROM applications a")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(!row.contains(&secret), "{row}");

    // Bob is invited, reads the mail, and joins.
    let invitation = ada
        .post(
            &format!("{ORG}/invitations"),
            &json!({ "email": "Bob@Example.com", "role": "member" }),
        )
        .await;
    assert_eq!(invitation["email"], "bob@example.com");
    let pending = ada.get(&format!("{ORG}/invitations")).await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
    let token = next_invitation(&stack, &mut HashSet::new()).await;
    let (invitations,): (String,) =
        sqlx::query_as("SELECT json_agg(i)::text FROM org_invitations i")
            .fetch_one(&db)
            .await
            .unwrap();
    assert!(!invitations.contains(&token) && !invitations.contains("bob"));
    let joined = bob
        .expect(
            Method::POST,
            "/v1/invitations/accept",
            Some(&json!({ "token": token })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        (&joined["slug"], &joined["role"]),
        (&json!("acme"), &json!("member"))
    );
    assert_eq!(bob.get("/v1/orgs").await["items"][0]["slug"], "acme");
    assert!(
        ada.get(&format!("{ORG}/invitations")).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let members = ada.get(&format!("{ORG}/members")).await;
    let mut listed: Vec<(String, String)> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("ada@example.com".to_owned(), "owner".to_owned()),
            ("bob@example.com".to_owned(), "member".to_owned())
        ]
    );

    // Every step, newest first, attributed and without a secret.
    let log = ada.get(&format!("{ORG}/audit")).await;
    let entries = log["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "org.member.joined",
            "org.member.invited",
            "application.created",
            "environment.created",
            "environment.created",
            "project.created",
            "org.created",
        ]
    );
    let org_id = org["id"].as_str().unwrap();
    assert!(entries.iter().all(|e| e["org_id"] == org_id));
    assert_eq!(entries[0]["actor_id"], bob.id().await.as_str());
    assert_eq!(entries[6]["actor_id"], ada.id().await.as_str());
    let text = log.to_string();
    assert!(!text.contains(&secret) && !text.contains(&token));
    // Filters apply within the organization; another org id in the query changes nothing.
    let created = ada
        .get(&format!(
            "{ORG}/audit?action=environment.&org_id={}",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(created["entries"].as_array().unwrap().len(), 2);

    // A member reads but is not an admin.
    bob.refused(
        Method::GET,
        &format!("{ORG}/audit"),
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(bob.get(APP).await["client_id"], client_id);
}

#[tokio::test]
async fn strangers_get_the_same_404_as_for_nothing_at_all() {
    let stack = Stack::start().await;
    let ada = User::new(&stack, "ada@example.com").await;
    let eve = User::new(&stack, "eve@example.com").await;
    acme(&ada).await;
    let ada_id = ada.id().await;
    // Eve has an org of her own with the same project slug.
    eve.post("/v1/orgs", &json!({ "slug": "evil", "name": "Evil" }))
        .await;
    eve.post(
        "/v1/orgs/evil/projects",
        &json!({ "slug": "shop", "name": "Shop" }),
    )
    .await;

    let paths = |org: &str| {
        let project = format!("/v1/orgs/{org}/projects/shop");
        let env = format!("{project}/environments/prod");
        let app = format!("{env}/applications/web");
        vec![
            (Method::GET, format!("/v1/orgs/{org}"), None),
            (
                Method::PATCH,
                format!("/v1/orgs/{org}"),
                Some(json!({ "name": "x" })),
            ),
            (Method::DELETE, format!("/v1/orgs/{org}"), None),
            (Method::GET, format!("/v1/orgs/{org}/members"), None),
            (
                Method::PATCH,
                format!("/v1/orgs/{org}/members/{ada_id}"),
                Some(json!({ "role": "viewer" })),
            ),
            (
                Method::DELETE,
                format!("/v1/orgs/{org}/members/{ada_id}"),
                None,
            ),
            (Method::GET, format!("/v1/orgs/{org}/invitations"), None),
            (
                Method::POST,
                format!("/v1/orgs/{org}/invitations"),
                Some(json!({ "email": "eve@example.com", "role": "owner" })),
            ),
            (
                Method::DELETE,
                format!("/v1/orgs/{org}/invitations/{}", uuid::Uuid::new_v4()),
                None,
            ),
            (Method::GET, format!("/v1/orgs/{org}/projects"), None),
            (
                Method::POST,
                format!("/v1/orgs/{org}/projects"),
                Some(json!({ "slug": "p", "name": "P" })),
            ),
            (Method::GET, project.clone(), None),
            (Method::PATCH, project.clone(), Some(json!({ "name": "x" }))),
            (Method::DELETE, project.clone(), None),
            (Method::GET, format!("{project}/environments"), None),
            (Method::GET, env.clone(), None),
            (Method::DELETE, env.clone(), None),
            (Method::GET, format!("{env}/applications"), None),
            (Method::POST, format!("{env}/applications"), Some(web_app())),
            (Method::GET, app.clone(), None),
            (Method::PATCH, app.clone(), Some(json!({ "name": "x" }))),
            (Method::DELETE, app.clone(), None),
            (Method::POST, format!("{app}/secret"), None),
            (Method::GET, format!("/v1/orgs/{org}/audit"), None),
        ]
    };
    let answer = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        response.json::<Value>().await.unwrap()
    };
    for ((method, path, body), (_, nowhere, _)) in paths("acme").into_iter().zip(paths("nope")) {
        let probed = answer(eve.send(method.clone(), &path, body.as_ref()).await).await;
        let missing = answer(eve.send(method.clone(), &nowhere, body.as_ref()).await).await;
        assert_eq!(probed, missing, "{method} {path}");
        assert_eq!(probed["code"], "not_found");
    }
    // Ada's slugs under Eve's own org find Eve's things or nothing, never Ada's.
    for path in [
        "/v1/orgs/evil/projects/shop/environments/prod",
        "/v1/orgs/evil/projects/shop/environments/prod/applications/web",
    ] {
        eve.refused(Method::GET, path, None, StatusCode::NOT_FOUND, "not_found")
            .await;
    }
    let mine = eve.get("/v1/orgs").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine["items"][0]["slug"], "evil");
    // Everything of Ada's is intact, and her log shows nothing of Eve's attempts.
    assert_eq!(ada.get(ORG).await["name"], "Acme");
    assert_eq!(ada.get(APP).await["slug"], "web");
    let log = ada.get(&format!("{ORG}/audit")).await;
    assert!(!log.to_string().contains(&eve.id().await));
    // Without a session: 401.
    let anonymous = reqwest::get(stack.permesi.url(ORG)).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn viewers_read_members_build_applications_and_only_admins_manage() {
    let stack = Stack::start().await;
    let ada = User::new(&stack, "ada@example.com").await;
    let vic = User::new(&stack, "vic@example.com").await;
    acme(&ada).await;
    join(&ada, &vic, "vic@example.com", "viewer", &mut HashSet::new()).await;
    let vic_id = vic.id().await;

    assert_eq!(vic.get(PROJECT).await["slug"], "shop");
    assert_eq!(vic.get(APP).await["slug"], "web");
    let writes = [
        (
            Method::PATCH,
            ORG.to_owned(),
            Some(json!({ "name": "Mine" })),
        ),
        (Method::DELETE, ORG.to_owned(), None),
        (
            Method::POST,
            format!("{ORG}/projects"),
            Some(json!({ "slug": "x", "name": "X" })),
        ),
        (
            Method::POST,
            format!("{ORG}/invitations"),
            Some(json!({ "email": "x@example.com", "role": "viewer" })),
        ),
        (Method::GET, format!("{ORG}/invitations"), None),
        (
            Method::POST,
            APPS.to_owned(),
            Some(
                json!({ "slug": "cli", "name": "CLI", "client_type": "public", "redirect_uris": ["http://127.0.0.1:9000/cb"] }),
            ),
        ),
        (
            Method::PATCH,
            APP.to_owned(),
            Some(json!({ "name": "Mine" })),
        ),
        (Method::POST, format!("{APP}/secret"), None),
        (Method::DELETE, PROD.to_owned(), None),
        (Method::GET, format!("{ORG}/audit"), None),
        (
            Method::PATCH,
            format!("{ORG}/members/{vic_id}"),
            Some(json!({ "role": "admin" })),
        ),
    ];
    for (method, path, body) in &writes {
        vic.refused(
            method.clone(),
            path,
            body.as_ref(),
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    // Refusals of members are audited.
    let denied = ada.get(&format!("{ORG}/audit?action=access.denied")).await;
    assert_eq!(denied["entries"].as_array().unwrap().len(), writes.len());
    assert_eq!(denied["entries"][0]["actor_id"], vic_id.as_str());

    // As a member, Vic builds applications but manages nothing else.
    ada.expect(
        Method::PATCH,
        &format!("{ORG}/members/{vic_id}"),
        Some(&json!({ "role": "member" })),
        StatusCode::NO_CONTENT,
    )
    .await;
    let cli = vic
        .post(
            APPS,
            &json!({ "slug": "cli", "name": "CLI", "client_type": "public",
                     "redirect_uris": ["http://127.0.0.1:9000/cb"] }),
        )
        .await;
    assert!(cli["client_secret"].is_null());
    let rotated = vic
        .expect(Method::POST, &format!("{APP}/secret"), None, StatusCode::OK)
        .await;
    assert_eq!(rotated["client_secret"].as_str().unwrap().len(), 43);
    vic.refused(
        Method::POST,
        &format!("{APPS}/cli/secret"),
        None,
        StatusCode::CONFLICT,
        "public_client",
    )
    .await;
    vic.refused(
        Method::DELETE,
        APP,
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    vic.refused(
        Method::POST,
        &format!("{ORG}/projects"),
        Some(&json!({ "slug": "x", "name": "X" })),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Anyone may leave.
    vic.expect(
        Method::DELETE,
        &format!("{ORG}/members/{vic_id}"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    vic.refused(Method::GET, ORG, None, StatusCode::NOT_FOUND, "not_found")
        .await;
}

#[tokio::test]
async fn production_comes_first_and_goes_last() {
    let stack = Stack::start().await;
    let ada = User::new(&stack, "ada@example.com").await;
    ada.post("/v1/orgs", &json!({ "slug": "acme", "name": "Acme" }))
        .await;
    ada.post(
        "/v1/orgs/acme/projects",
        &json!({ "slug": "shop", "name": "Shop" }),
    )
    .await;
    let envs = format!("{PROJECT}/environments");
    let env = |slug: &str, tier: &str| json!({ "slug": slug, "name": slug, "tier": tier });
    ada.refused(
        Method::POST,
        &envs,
        Some(&env("staging", "staging")),
        StatusCode::CONFLICT,
        "production_first",
    )
    .await;
    ada.post(&envs, &env("prod", "production")).await;
    ada.refused(
        Method::POST,
        &envs,
        Some(&env("prod2", "production")),
        StatusCode::CONFLICT,
        "production_exists",
    )
    .await;
    ada.refused(
        Method::POST,
        &envs,
        Some(&env("prod", "development")),
        StatusCode::CONFLICT,
        "slug_taken",
    )
    .await;
    ada.post(&envs, &env("staging", "staging")).await;
    ada.refused(
        Method::DELETE,
        PROD,
        None,
        StatusCode::CONFLICT,
        "production_in_use",
    )
    .await;
    ada.expect(
        Method::DELETE,
        &format!("{envs}/staging"),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    ada.expect(Method::DELETE, PROD, None, StatusCode::NO_CONTENT)
        .await;
    // Deleting the whole project takes its environments in the right order.
    ada.post(&envs, &env("prod", "production")).await;
    ada.post(&envs, &env("dev", "development")).await;
    ada.expect(Method::DELETE, PROJECT, None, StatusCode::NO_CONTENT)
        .await;
}

#[tokio::test]
async fn the_database_enforces_the_environment_rules_on_its_own() {
    let stack = Stack::start().await;
    let ada = User::new(&stack, "ada@example.com").await;
    ada.post("/v1/orgs", &json!({ "slug": "acme", "name": "Acme" }))
        .await;
    let project = ada
        .post(
            "/v1/orgs/acme/projects",
            &json!({ "slug": "shop", "name": "Shop" }),
        )
        .await;
    let project: uuid::Uuid = project["id"].as_str().unwrap().parse().unwrap();
    let db = pool(&stack).await;
    let insert = |slug: &'static str, tier: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query(
                "INSERT INTO environments (id, project_id, slug, name, tier, created_at, \
                 updated_at) VALUES (gen_random_uuid(), $1, $2, $2, $3, now(), now())",
            )
            .bind(project)
            .bind(slug)
            .bind(tier)
            .execute(&db)
            .await
        }
    };
    let sqlstate = |r: Result<sqlx::postgres::PgQueryResult, sqlx::Error>| match r {
        Err(sqlx::Error::Database(e)) => e.code().unwrap().into_owned(),
        other => panic!("expected a database error, got {other:?}"),
    };
    assert_eq!(sqlstate(insert("staging", "staging").await), "PT001");
    insert("prod", "production").await.unwrap();
    assert_eq!(sqlstate(insert("prod2", "production").await), "23505");
    insert("staging", "staging").await.unwrap();
    let retire = sqlx::query(
        "UPDATE environments SET deleted_at = now() WHERE slug = 'prod' AND project_id = $1",
    )
    .bind(project)
    .execute(&db)
    .await;
    assert_eq!(sqlstate(retire), "PT002");
    let demote = sqlx::query("UPDATE environments SET tier = 'staging' WHERE slug = 'prod'")
        .execute(&db)
        .await;
    assert_eq!(sqlstate(demote), "PT002");
    let remove = sqlx::query("DELETE FROM environments WHERE slug = 'prod'")
        .execute(&db)
        .await;
    assert_eq!(sqlstate(remove), "PT002");
    // Once staging is gone, production may go; a deleted production frees the tier.
    sqlx::query("UPDATE environments SET deleted_at = now() WHERE slug = 'staging'")
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("UPDATE environments SET deleted_at = now() WHERE slug = 'prod'")
        .execute(&db)
        .await
        .unwrap();
    insert("prod", "production").await.unwrap();

    // The outbox keeps its kinds apart: invitations have no user, verifications have one.
    for sql in [
        "INSERT INTO email_outbox (id, user_id, kind, recipient_ciphertext, link_ciphertext, \
         next_attempt_at, created_at) VALUES (gen_random_uuid(), NULL, 'verify_email', 'r', \
         'l', now(), now())",
        "INSERT INTO email_outbox (id, user_id, kind, recipient_ciphertext, link_ciphertext, \
         next_attempt_at, created_at) SELECT gen_random_uuid(), id, 'org_invitation', 'r', \
         'l', now(), now() FROM users",
        // A public client with a secret, client_credentials for a public client.
        "INSERT INTO applications (id, environment_id, slug, name, client_id, client_type, \
         client_secret_mac, redirect_uris, allowed_scopes, grant_types, created_at, updated_at) \
         SELECT gen_random_uuid(), id, 'a', 'A', 'abcdefabcdefabcdef', 'public', \
         sha256('x'), ARRAY['https://a.example/cb'], ARRAY['openid'], \
         ARRAY['authorization_code'], now(), now() FROM environments WHERE deleted_at IS NULL",
        "INSERT INTO applications (id, environment_id, slug, name, client_id, client_type, \
         redirect_uris, allowed_scopes, grant_types, created_at, updated_at) \
         SELECT gen_random_uuid(), id, 'a', 'A', 'abcdefabcdefabcdef', 'public', \
         ARRAY['https://a.example/cb'], ARRAY['openid'], ARRAY['client_credentials'], now(), \
         now() FROM environments WHERE deleted_at IS NULL",
    ] {
        assert!(sqlx::query(sql).execute(&db).await.is_err(), "{sql}");
    }
}

#[tokio::test]
async fn the_last_owner_cannot_leave_or_be_demoted() {
    let stack = Stack::start().await;
    let ada = User::new(&stack, "ada@example.com").await;
    let bob = User::new(&stack, "bob@example.com").await;
    acme(&ada).await;
    join(&ada, &bob, "bob@example.com", "admin", &mut HashSet::new()).await;
    let (ada_id, bob_id) = (ada.id().await, bob.id().await);
    let member = |id: &str| format!("{ORG}/members/{id}");

    ada.refused(
        Method::DELETE,
        &member(&ada_id),
        None,
        StatusCode::CONFLICT,
        "last_owner",
    )
    .await;
    ada.refused(
        Method::PATCH,
        &member(&ada_id),
        Some(&json!({ "role": "admin" })),
        StatusCode::CONFLICT,
        "last_owner",
    )
    .await;
    // An admin manages no owner, and makes nobody one.
    bob.refused(
        Method::PATCH,
        &member(&ada_id),
        Some(&json!({ "role": "member" })),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    bob.refused(
        Method::DELETE,
        &member(&ada_id),
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    bob.refused(
        Method::PATCH,
        &member(&bob_id),
        Some(&json!({ "role": "owner" })),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    bob.refused(
        Method::POST,
        &format!("{ORG}/invitations"),
        Some(&json!({ "email": "carl@example.com", "role": "owner" })),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // With a second owner, either could step down, but not both at once.
    ada.expect(
        Method::PATCH,
        &member(&bob_id),
        Some(&json!({ "role": "owner" })),
        StatusCode::NO_CONTENT,
    )
    .await;
    let (ada_leaves, bob_leaves) = (member(&ada_id), member(&bob_id));
    let (a, b) = tokio::join!(
        ada.send(Method::DELETE, &ada_leaves, None),
        bob.send(Method::DELETE, &bob_leaves, None),
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::NO_CONTENT, StatusCode::CONFLICT]);
    let (stayed, stayed_id, left) = if a.status() == StatusCode::CONFLICT {
        (&ada, &ada_id, &bob)
    } else {
        (&bob, &bob_id, &ada)
    };
    left.refused(Method::GET, ORG, None, StatusCode::NOT_FOUND, "not_found")
        .await;
    let members = stayed.get(&format!("{ORG}/members")).await;
    assert_eq!(members["items"].as_array().unwrap().len(), 1);
    assert_eq!(members["items"][0]["role"], "owner");
    stayed
        .refused(
            Method::PATCH,
            &member(stayed_id),
            Some(&json!({ "role": "admin" })),
            StatusCode::CONFLICT,
            "last_owner",
        )
        .await;
    let log = stayed
        .get(&format!("{ORG}/audit?action=org.member.removed"))
        .await;
    assert_eq!(log["entries"][0]["detail"]["left"], true);
}

#[tokio::test]
async fn invitations_are_single_use_expire_and_belong_to_their_address() {
    let stack = Stack::start().await;
    let ada = User::new(&stack, "ada@example.com").await;
    let bob = User::new(&stack, "bob@example.com").await;
    let carol = User::new(&stack, "carol@example.com").await;
    let dave = User::new(&stack, "dave@example.com").await;
    acme(&ada).await;
    let mut seen = HashSet::new();
    let accept = |token: &str| json!({ "token": token });
    let invitations = format!("{ORG}/invitations");

    // Used once.
    ada.post(
        &invitations,
        &json!({ "email": "bob@example.com", "role": "member" }),
    )
    .await;
    let token = next_invitation(&stack, &mut seen).await;
    bob.expect(
        Method::POST,
        "/v1/invitations/accept",
        Some(&accept(&token)),
        StatusCode::OK,
    )
    .await;
    for user in [&bob, &carol] {
        user.refused(
            Method::POST,
            "/v1/invitations/accept",
            Some(&accept(&token)),
            StatusCode::BAD_REQUEST,
            "invalid_or_expired_token",
        )
        .await;
    }
    // Members are not invited twice.
    ada.refused(
        Method::POST,
        &invitations,
        Some(&json!({ "email": "bob@example.com", "role": "admin" })),
        StatusCode::CONFLICT,
        "already_member",
    )
    .await;

    // Only the invited address may accept; a refusal does not spend the token.
    ada.post(
        &invitations,
        &json!({ "email": "carol@example.com", "role": "viewer" }),
    )
    .await;
    ada.refused(
        Method::POST,
        &invitations,
        Some(&json!({ "email": "carol@example.com", "role": "viewer" })),
        StatusCode::CONFLICT,
        "invitation_pending",
    )
    .await;
    let token = next_invitation(&stack, &mut seen).await;
    dave.refused(
        Method::POST,
        "/v1/invitations/accept",
        Some(&accept(&token)),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    dave.refused(Method::GET, ORG, None, StatusCode::NOT_FOUND, "not_found")
        .await;
    carol
        .expect(
            Method::POST,
            "/v1/invitations/accept",
            Some(&accept(&token)),
            StatusCode::OK,
        )
        .await;

    // Expired.
    ada.post(
        &invitations,
        &json!({ "email": "dave@example.com", "role": "viewer" }),
    )
    .await;
    let token = next_invitation(&stack, &mut seen).await;
    sqlx::query(
        "UPDATE org_invitations SET created_at = now() - interval '8 days', \
         expires_at = now() - interval '1 day' WHERE accepted_at IS NULL AND revoked_at IS NULL",
    )
    .execute(&pool(&stack).await)
    .await
    .unwrap();
    dave.refused(
        Method::POST,
        "/v1/invitations/accept",
        Some(&accept(&token)),
        StatusCode::BAD_REQUEST,
        "invalid_or_expired_token",
    )
    .await;
    assert!(
        ada.get(&invitations).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Revoked (a new invitation replaces the expired one).
    let invitation = ada
        .post(
            &invitations,
            &json!({ "email": "dave@example.com", "role": "viewer" }),
        )
        .await;
    let token = next_invitation(&stack, &mut seen).await;
    ada.expect(
        Method::DELETE,
        &format!("{invitations}/{}", invitation["id"].as_str().unwrap()),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    dave.refused(
        Method::POST,
        "/v1/invitations/accept",
        Some(&accept(&token)),
        StatusCode::BAD_REQUEST,
        "invalid_or_expired_token",
    )
    .await;
    // Malformed tokens are the same answer.
    dave.refused(
        Method::POST,
        "/v1/invitations/accept",
        Some(&accept("not-a-token")),
        StatusCode::BAD_REQUEST,
        "invalid_or_expired_token",
    )
    .await;
    let members = ada.get(&format!("{ORG}/members")).await;
    assert_eq!(members["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn deletes_hide_rows_free_slugs_and_the_purge_removes_them_after_retention() {
    let stack = Stack::start().await;
    let ada = User::new(&stack, "ada@example.com").await;
    acme(&ada).await;
    ada.expect(Method::DELETE, PROJECT, None, StatusCode::NO_CONTENT)
        .await;
    for path in [PROJECT, PROD, APP] {
        ada.refused(Method::GET, path, None, StatusCode::NOT_FOUND, "not_found")
            .await;
    }
    assert!(
        ada.get(&format!("{ORG}/projects")).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The slug is free again.
    ada.post(
        "/v1/orgs/acme/projects",
        &json!({ "slug": "shop", "name": "Shop again" }),
    )
    .await;

    let db = pool(&stack).await;
    let count = |table: &'static str| {
        let db = db.clone();
        async move {
            let sql = match table {
                "projects" => "SELECT count(*) FROM projects",
                "environments" => "SELECT count(*) FROM environments",
                _ => "SELECT count(*) FROM applications",
            };
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        (
            count("projects").await,
            count("environments").await,
            count("applications").await
        ),
        (2, 1, 1)
    );
    let now = OffsetDateTime::now_utc();
    let kept = permesi::tenancy::purge_deleted(&db, now - time::Duration::days(30))
        .await
        .unwrap();
    assert_eq!(kept, permesi::store::retention::Purged::default());
    let purged = permesi::tenancy::purge_deleted(&db, now + time::Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        (purged.projects, purged.environments, purged.applications),
        (1, 1, 1)
    );
    assert_eq!(
        (
            count("projects").await,
            count("environments").await,
            count("applications").await
        ),
        (1, 0, 0)
    );

    // Deleting the organization hides it from its members and frees its slug.
    let org_id = ada.get(ORG).await["id"].as_str().unwrap().to_owned();
    ada.expect(Method::DELETE, ORG, None, StatusCode::NO_CONTENT)
        .await;
    ada.refused(Method::GET, ORG, None, StatusCode::NOT_FOUND, "not_found")
        .await;
    assert!(
        ada.get("/v1/orgs").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let overview = permesi::tenancy::org_overview(&db, org_id.parse().unwrap())
        .await
        .unwrap();
    assert!(overview.deleted_at.is_some() && overview.projects.is_empty());
    assert_eq!(overview.members.len(), 1);
    assert_eq!(
        permesi::tenancy::org_id_by_slug(&db, "acme").await.unwrap(),
        None
    );
    let again = ada
        .post("/v1/orgs", &json!({ "slug": "acme", "name": "Acme 2" }))
        .await;
    assert_eq!(
        permesi::tenancy::org_id_by_slug(&db, "acme").await.unwrap(),
        Some(again["id"].as_str().unwrap().parse().unwrap())
    );
    let purged = permesi::tenancy::purge_deleted(
        &db,
        OffsetDateTime::now_utc() + time::Duration::minutes(1),
    )
    .await
    .unwrap();
    assert_eq!(purged.orgs, 1);
}

#[tokio::test]
async fn lists_page_with_an_opaque_cursor_and_filter_by_name() {
    let stack = Stack::start().await;
    let ada = User::new(&stack, "ada@example.com").await;
    ada.post("/v1/orgs", &json!({ "slug": "acme", "name": "Acme" }))
        .await;
    for (slug, name) in [
        ("p1", "Alpha one"),
        ("p2", "Beta"),
        ("p3", "alpha three"),
        ("p4", "Gamma"),
        ("p5", "ALPHA five"),
    ] {
        ada.post(
            "/v1/orgs/acme/projects",
            &json!({ "slug": slug, "name": name }),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("{ORG}/projects?limit=2&cursor={c}"),
            None => format!("{ORG}/projects?limit=2"),
        };
        let page = ada.get(&path).await;
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["slug"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["p1", "p2", "p3", "p4", "p5"]);
    assert_eq!(pages, 3);
    let alpha = ada.get(&format!("{ORG}/projects?q=ALPHA")).await;
    let slugs: Vec<&str> = alpha["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["p1", "p3", "p5"]);
    assert!(alpha["next_cursor"].is_null());
    for (query, expected) in [
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
        ("cursor=Not%20a%20slug", "invalid_cursor"),
    ] {
        ada.refused(
            Method::GET,
            &format!("{ORG}/projects?{query}"),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            expected,
        )
        .await;
    }
    let members = ada.get(&format!("{ORG}/members?limit=1")).await;
    assert_eq!(members["items"].as_array().unwrap().len(), 1);
    assert!(members["next_cursor"].is_null());
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_problem() {
    let stack = Stack::start().await;
    let ada = User::new(&stack, "ada@example.com").await;
    acme(&ada).await;
    let problem = |response: reqwest::Response, status: StatusCode| async move {
        assert_eq!(response.status(), status);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    };
    // Not JSON, no JSON content type, unknown and missing fields.
    let raw = reqwest::Client::new()
        .post(stack.permesi.url("/v1/orgs"))
        .header(header::COOKIE, &ada.cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    problem(raw, StatusCode::BAD_REQUEST).await;
    let untyped = reqwest::Client::new()
        .post(stack.permesi.url("/v1/orgs"))
        .header(header::COOKIE, &ada.cookie)
        .body(r#"{"slug":"x","name":"X"}"#)
        .send()
        .await
        .unwrap();
    problem(untyped, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    for body in [
        json!({ "slug": "x", "name": "X", "owner": "someone-else" }),
        json!({ "slug": "x" }),
        json!({ "slug": 7, "name": "X" }),
    ] {
        problem(
            ada.send(Method::POST, "/v1/orgs", Some(&body)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let invitations = format!("{ORG}/invitations");
    let cases = [
        (
            "/v1/orgs",
            json!({ "slug": "Not A Slug", "name": "X" }),
            "invalid_slug",
        ),
        (
            "/v1/orgs",
            json!({ "slug": "ok", "name": "" }),
            "invalid_name",
        ),
        (
            "/v1/orgs",
            json!({ "slug": "acme", "name": "Again" }),
            "slug_taken",
        ),
        (
            APPS,
            json!({ "slug": "a", "name": "A", "client_type": "public",
                       "redirect_uris": ["http://evil.example/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            APPS,
            json!({ "slug": "a", "name": "A", "client_type": "public",
                       "redirect_uris": ["https://a.example/cb#x"] }),
            "invalid_redirect_uri",
        ),
        (
            APPS,
            json!({ "slug": "a", "name": "A", "client_type": "public",
                       "redirect_uris": ["https://a.example/cb"],
                       "grant_types": ["client_credentials"] }),
            "invalid_grant_types",
        ),
        (
            APPS,
            json!({ "slug": "a", "name": "A", "client_type": "public",
                       "redirect_uris": ["https://a.example/cb"],
                       "allowed_scopes": ["open id"] }),
            "invalid_scope",
        ),
        (APPS, web_app(), "slug_taken"),
        (
            invitations.as_str(),
            json!({ "email": "nope", "role": "viewer" }),
            "invalid_email",
        ),
    ];
    for (path, body, expected) in &cases {
        let response = ada.send(Method::POST, path, Some(body)).await;
        assert!(response.status().is_client_error(), "{path} {body}");
        assert_eq!(code(response).await, *expected, "{path} {body}");
    }
    // Unknown grant, role or tier names; a patch with an unknown field; unknown query
    // parameters; a malformed id in the path.
    let ada_id = ada.id().await;
    for (method, path, body, status) in [
        (
            Method::POST,
            APPS.to_owned(),
            Some(
                json!({ "slug": "b", "name": "B", "client_type": "public", "redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"] }),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            format!("{ORG}/members/{ada_id}"),
            Some(json!({ "role": "root" })),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            format!("{PROJECT}/environments"),
            Some(json!({ "slug": "qa", "name": "QA", "tier": "qa" })),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::PATCH,
            APP.to_owned(),
            Some(json!({ "client_type": "public" })),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            format!("{ORG}/projects?sort=name"),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            format!("{ORG}/audit?org=other"),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::DELETE,
            format!("{ORG}/members/not-a-uuid"),
            None,
            StatusCode::BAD_REQUEST,
        ),
    ] {
        problem(ada.send(method, &path, body.as_ref()).await, status).await;
    }
    // A patch keeps what it does not name.
    let patched = ada
        .expect(
            Method::PATCH,
            APP,
            Some(&json!({ "redirect_uris": ["https://shop.example.com/cb2", "http://localhost:3000/cb"] })),
            StatusCode::OK,
        )
        .await;
    assert_eq!(patched["name"], "Web");
    assert_eq!(patched["client_type"], "confidential");
    assert_eq!(
        ada.get(APP).await["redirect_uris"][1],
        "http://localhost:3000/cb"
    );
}

#[tokio::test]
async fn applications_oidc_client_settings_are_set_through_the_api() {
    let stack = Stack::start().await;
    let owner = User::new(&stack, "oidc.owner@example.com").await;
    acme(&owner).await;
    let oidc = format!("{APP}/oidc");
    assert_eq!(
        owner.get(&oidc).await,
        json!({ "subject_type": "public", "id_token_signed_response_alg": "EdDSA", "jwks": null })
    );
    let key = json!({ "kty": "OKP", "crv": "Ed25519", "kid": "k1",
                      "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" });
    let settings = json!({
        "subject_type": "pairwise",
        "id_token_signed_response_alg": "ES256",
        "jwks": { "keys": [key] },
    });
    owner
        .expect(Method::PUT, &oidc, Some(&settings), StatusCode::OK)
        .await;
    assert_eq!(owner.get(&oidc).await, settings);
    // What the token endpoint reads is what was set.
    let stored: (String, String) = sqlx::query_as(
        "SELECT subject_type, id_token_signed_response_alg FROM applications WHERE slug = 'web'",
    )
    .fetch_one(&pool(&stack).await)
    .await
    .unwrap();
    assert_eq!(stored, ("pairwise".to_owned(), "ES256".to_owned()));
    // Private key material and foreign key types are refused; unknown fields too.
    let mut private = key.clone();
    private["d"] = json!("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    for (body, status, expected) in [
        (
            json!({ "subject_type": "public", "id_token_signed_response_alg": "EdDSA",
                    "jwks": { "keys": [private] } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "private_key_in_jwks",
        ),
        (
            json!({ "subject_type": "public", "id_token_signed_response_alg": "EdDSA",
                    "jwks": { "keys": [{ "kty": "RSA", "n": "x", "e": "AQAB" }] } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_jwks",
        ),
    ] {
        owner
            .refused(Method::PUT, &oidc, Some(&body), status, expected)
            .await;
    }
    let unknown = owner
        .send(
            Method::PUT,
            &oidc,
            Some(&json!({ "subject_type": "public", "id_token_signed_response_alg": "RS1" })),
        )
        .await;
    assert!(unknown.status().is_client_error());
    // Strangers see nothing.
    let stranger = User::new(&stack, "oidc.stranger@example.com").await;
    stranger
        .refused(Method::GET, &oidc, None, StatusCode::NOT_FOUND, "not_found")
        .await;
    stranger
        .refused(
            Method::PUT,
            &oidc,
            Some(&settings),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
}
