//! The outbox delivery worker and its mailers.
//!
//! [`Worker::deliver_due`] makes one pass: it claims due messages (`FOR UPDATE SKIP LOCKED`,
//! so several replicas share the outbox), decrypts address and link, sends, and records the
//! result. A failed send is retried with exponential backoff and marked `failed` after
//! [`Retry::max_attempts`] or on a permanent SMTP rejection. `last_error` holds a fixed
//! category, never a server reply (which may quote the address). Delivery is at least once:
//! a worker that dies between sending and recording sends again after the lease.
//!
//! [`Worker::run`] repeats passes, waking when an issuer notifies or every poll interval.

use std::{
    future::Future,
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
    time::SystemTime,
};

use keys::{Cipher, KeysError};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{
        Body, Mailbox,
        header::{ContentTransferEncoding, ContentType},
    },
};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use tokio::sync::Notify;
use uuid::Uuid;

use super::{VERIFY_PATH, VerificationError, store};
use crate::identity::email;

const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// What an outbox message is; each kind has its subject, text, and the id its recipient
/// ciphertext is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// An email verification link (recipient sealed on the user id, like `users`).
    VerifyEmail,
    /// An organization invitation (no account yet: recipient sealed on the outbox row id).
    OrgInvitation,
    /// A password reset link (recipient sealed on the outbox row id, like invitations).
    PasswordReset,
    /// A notice to the owner (a sign-in factor changed, someone tried to sign up with the
    /// address); the "link" column holds `<notice code> <console URL>`.
    SecurityNotice,
}

/// What a security notice tells the account's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Someone tried to sign up with the (verified) address.
    SignupAttempt,
    /// The password was changed.
    PasswordChanged,
    /// TOTP was turned on.
    TotpEnabled,
    /// TOTP was turned off.
    TotpDisabled,
    /// New recovery codes replaced the old ones.
    RecoveryCodesRegenerated,
    /// A passkey was added.
    PasskeyAdded,
    /// A passkey was removed.
    PasskeyRemoved,
}

impl Notice {
    const ALL: [Self; 7] = [
        Self::SignupAttempt,
        Self::PasswordChanged,
        Self::TotpEnabled,
        Self::TotpDisabled,
        Self::RecoveryCodesRegenerated,
        Self::PasskeyAdded,
        Self::PasskeyRemoved,
    ];

    /// Stable code (stored encrypted in the outbox row).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignupAttempt => "signup_attempt",
            Self::PasswordChanged => "password_changed",
            Self::TotpEnabled => "totp_enabled",
            Self::TotpDisabled => "totp_disabled",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::PasskeyAdded => "passkey_added",
            Self::PasskeyRemoved => "passkey_removed",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == code)
    }

    /// The console page the notice points at.
    fn path(self) -> &'static str {
        match self {
            Self::SignupAttempt => "/forgot-password",
            _ => "/security",
        }
    }

    fn sentence(self) -> &'static str {
        match self {
            Self::SignupAttempt => {
                "Someone tried to sign up for permesi with this address, which already has an \
                 account. Nothing was changed. If it was you and you forgot your password, reset it"
            }
            Self::PasswordChanged => "The password of your permesi account was changed",
            Self::TotpEnabled => "An authenticator app (TOTP) was added to your permesi account",
            Self::TotpDisabled => {
                "The authenticator app (TOTP) of your permesi account was turned off"
            }
            Self::RecoveryCodesRegenerated => {
                "New recovery codes were made for your permesi account; the old ones no longer work"
            }
            Self::PasskeyAdded => "A passkey was added to your permesi account",
            Self::PasskeyRemoved => "A passkey was removed from your permesi account",
        }
    }
}

impl MailKind {
    /// Stored name (`email_outbox.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::OrgInvitation => "org_invitation",
            Self::PasswordReset => "password_reset",
            Self::SecurityNotice => "security_notice",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "verify_email" => Some(Self::VerifyEmail),
            "org_invitation" => Some(Self::OrgInvitation),
            "password_reset" => Some(Self::PasswordReset),
            "security_notice" => Some(Self::SecurityNotice),
            _ => None,
        }
    }

    fn subject(self) -> &'static str {
        match self {
            Self::VerifyEmail => "Confirm your email address",
            Self::OrgInvitation => "You are invited to an organization on permesi",
            Self::PasswordReset => "Reset your permesi password",
            Self::SecurityNotice => "Security notice for your permesi account",
        }
    }

    fn text(self, link: &str) -> String {
        match self {
            Self::VerifyEmail => format!(
                "Confirm the email address of your permesi account by opening this link:\n\n\
                 {link}\n\n\
                 If you did not create an account, ignore this message.\n"
            ),
            Self::OrgInvitation => format!(
                "You were invited to join an organization on permesi. Log in (or sign up with \
                 this address) and open this link to accept:\n\n\
                 {link}\n\n\
                 If you did not expect an invitation, ignore this message.\n"
            ),
            Self::PasswordReset => format!(
                "Someone asked to reset the password of your permesi account. To choose a new \
                 password, open this link within 30 minutes:\n\n\
                 {link}\n\n\
                 Resetting signs you out everywhere. If you did not ask, ignore this message: \
                 your password stays as it is.\n"
            ),
            Self::SecurityNotice => {
                let (code, url) = link.split_once(' ').unwrap_or((link, ""));
                let sentence =
                    Notice::parse(code).map_or("Your permesi account changed", Notice::sentence);
                format!(
                    "{sentence}.\n\n\
                     If this was not you, sign in and review your sign-in methods at once, or \
                     reset your password:\n\n\
                     {url}\n"
                )
            }
        }
    }
}

/// Queues a message of `kind` (not `verify_email`, which [`super::EmailVerification`] issues
/// with its token) to `address` carrying `link`, on `conn` (the caller's transaction). The
/// recipient is sealed on the row id, the link encrypted like verification links. Wake the
/// worker after the commit.
pub async fn queue_link_mail(
    conn: &mut sqlx::PgConnection,
    cipher: &dyn Cipher,
    kind: MailKind,
    address: &email::Email,
    link: &str,
    now: OffsetDateTime,
) -> Result<(), VerificationError> {
    let id = Uuid::now_v7();
    let message = store::NewLinkMessage {
        id,
        recipient_ciphertext: email::seal(cipher, id, address).await?,
        link_ciphertext: cipher.encrypt(link.as_bytes(), &link_aad(id)).await?,
        created_at: now,
    };
    store::insert_message(conn, kind.as_str(), None, &message).await?;
    Ok(())
}

/// Queues a [`Notice`] to `address` on `conn` (the caller's transaction); wake the worker
/// after the commit.
pub async fn queue_notice(
    conn: &mut sqlx::PgConnection,
    cipher: &dyn Cipher,
    notice: Notice,
    address: &email::Email,
    link_base: &str,
    now: OffsetDateTime,
) -> Result<(), VerificationError> {
    let body = format!(
        "{} {}{}",
        notice.as_str(),
        link_base.trim_end_matches('/'),
        notice.path()
    );
    queue_link_mail(conn, cipher, MailKind::SecurityNotice, address, &body, now).await
}

/// Associated data binding an encrypted link to its outbox row.
pub(crate) fn link_aad(message: Uuid) -> Vec<u8> {
    let mut aad = b"permesi/outbox-link/v1\0".to_vec();
    aad.extend_from_slice(message.as_bytes());
    aad
}

/// How messages leave.
pub enum Mailer {
    /// An SMTP relay (production).
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Development only: one `.eml` file per message in this folder (its name is logged, the
    /// link is not). Links are credentials; never use it where the folder is shared.
    Folder(PathBuf),
}

impl std::fmt::Debug for Mailer {
    // The SMTP URL may carry credentials: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Smtp(_) => f.write_str("Mailer::Smtp(..)"),
            Self::Folder(dir) => f.debug_tuple("Mailer::Folder").field(dir).finish(),
        }
    }
}

impl Mailer {
    /// An SMTP mailer from a lettre URL: `smtps://user:pass@host:465` (TLS),
    /// `smtp://host:587?tls=required` (STARTTLS), or `smtp://host:25` (plain, local relays
    /// only). Each send times out after 15 s.
    pub fn smtp(url: &str) -> Result<Self, VerificationError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| VerificationError::Settings("SMTP URL"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self::Smtp(transport))
    }

    async fn send(&self, message: &Message) -> Result<(), Failure> {
        match self {
            Self::Smtp(transport) => transport
                .send(message.clone())
                .await
                .map(drop)
                .map_err(|e| {
                    if e.is_permanent() {
                        Failure::permanent("smtp_rejected")
                    } else if e.is_transient() {
                        Failure::transient("smtp_deferred")
                    } else if e.is_timeout() {
                        Failure::transient("smtp_timeout")
                    } else if e.is_tls() {
                        Failure::transient("smtp_tls")
                    } else {
                        Failure::transient("smtp_unavailable")
                    }
                }),
            Self::Folder(dir) => {
                let path = write_eml(dir, &message.formatted())
                    .await
                    .map_err(|_| Failure::transient("mail_folder"))?;
                // The file only: the link is a credential (a reset link sets a password).
                tracing::info!(file = %path.display(), "dev mail written");
                Ok(())
            }
        }
    }
}

/// Writes atomically (temporary name, then rename) under a name that sorts by time.
async fn write_eml(dir: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    tokio::fs::create_dir_all(dir).await?;
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("{nanos:020}-{}.eml", Uuid::now_v7().simple());
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, &path).await?;
    Ok(path)
}

/// The link of the newest message in a dev mail folder (for `just signup-verify-url`), or
/// `None` when the folder holds no verification message.
pub fn latest_link(mail_dir: &Path) -> std::io::Result<Option<String>> {
    latest_link_to(mail_dir, VERIFY_PATH)
}

/// The newest link to `path` (`/verify-email`, `/invitations/accept`) in a dev mail folder.
pub fn latest_link_to(mail_dir: &Path, path: &str) -> std::io::Result<Option<String>> {
    let mut names = Vec::new();
    // No folder yet: nothing has been sent.
    let entries = match std::fs::read_dir(mail_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".eml") && !name.starts_with('.') {
            names.push(name.into_owned());
        }
    }
    names.sort_unstable();
    let marker = format!("{path}#token=");
    for name in names.iter().rev() {
        let text = message_text(&std::fs::read_to_string(mail_dir.join(name))?);
        if let Some(link) = text
            .split_whitespace()
            .find(|word| word.contains(&marker) && word.starts_with("http"))
        {
            return Ok(Some(link.to_owned()));
        }
    }
    Ok(None)
}

/// The decoded text body of a raw single-part message (quoted-printable or not).
pub(crate) fn message_text(raw: &str) -> String {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .or_else(|| raw.split_once("\n\n"))
        .unwrap_or(("", raw));
    let quoted_printable = head.lines().any(|line| {
        line.to_ascii_lowercase()
            .starts_with("content-transfer-encoding: quoted-printable")
    });
    if quoted_printable {
        decode_quoted_printable(body)
    } else {
        body.to_owned()
    }
}

/// RFC 2045 quoted-printable: `=` + line break is a soft break, `=XX` a byte. Malformed
/// escapes are kept as they are.
fn decode_quoted_printable(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            let rest = &bytes[i + 1..];
            if rest.starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if rest.starts_with(b"\n") {
                i += 2;
                continue;
            }
            let hex = rest
                .get(..2)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(byte) = hex {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Retry schedule and batch size.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts before a message is marked `failed` (default 8).
    pub max_attempts: i32,
    /// Delay after the first failure, doubled after each further one (default 30 s).
    pub base_delay: Duration,
    /// Longest delay between attempts (default 1 h).
    pub max_delay: Duration,
    /// How long a claimed message is reserved for the worker that claimed it (default 5 min).
    pub lease: Duration,
    /// Messages claimed per pass (default 32).
    pub batch: i64,
    /// Pass interval when nobody notifies (default 5 s).
    pub poll: std::time::Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::seconds(30),
            max_delay: Duration::hours(1),
            lease: Duration::minutes(5),
            batch: 32,
            poll: std::time::Duration::from_secs(5),
        }
    }
}

impl Retry {
    /// Delay before the attempt after `attempts` failed ones.
    pub fn delay_after(&self, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        let delay = self.base_delay.saturating_mul(1_i32 << doublings);
        delay.min(self.max_delay)
    }
}

/// Why one message was not delivered: a fixed category and whether to try again.
struct Failure {
    category: &'static str,
    permanent: bool,
}

impl Failure {
    fn transient(category: &'static str) -> Self {
        Self {
            category,
            permanent: false,
        }
    }

    fn permanent(category: &'static str) -> Self {
        Self {
            category,
            permanent: true,
        }
    }

    fn keys(e: &KeysError) -> Self {
        match e {
            KeysError::Decrypt | KeysError::Corrupt(_) => Self::permanent("decrypt"),
            _ => Self::transient("keys_unavailable"),
        }
    }
}

/// Drains the outbox.
#[derive(Debug)]
pub struct Worker {
    pool: PgPool,
    cipher: Arc<dyn Cipher>,
    mailer: Mailer,
    from: Mailbox,
    retry: Retry,
}

impl Worker {
    /// A worker sending from `from` (e.g. `permesi <no-reply@example.com>`).
    pub fn new(
        pool: PgPool,
        cipher: Arc<dyn Cipher>,
        mailer: Mailer,
        from: &str,
    ) -> Result<Self, VerificationError> {
        let from =
            Mailbox::from_str(from).map_err(|_| VerificationError::Settings("from address"))?;
        Ok(Self {
            pool,
            cipher,
            mailer,
            from,
            retry: Retry::default(),
        })
    }

    /// Replaces the default retry schedule.
    #[must_use]
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// One pass over the messages due at `now`; returns how many were sent.
    pub async fn deliver_due(&self, now: OffsetDateTime) -> Result<usize, VerificationError> {
        Ok(self.pass(now).await?.1)
    }

    /// Passes until `shutdown` resolves: again at once after a full batch, otherwise on
    /// `wake` or after the poll interval. Database errors are logged and retried.
    pub async fn run(self, wake: Arc<Notify>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let full = match self.pass(OffsetDateTime::now_utc()).await {
                Ok((claimed, _)) => claimed >= usize::try_from(self.retry.batch).unwrap_or(0),
                Err(e) => {
                    tracing::warn!(error = e.code(), "email outbox pass failed");
                    false
                }
            };
            if full {
                tokio::select! {
                    biased;
                    () = &mut shutdown => return,
                    () = std::future::ready(()) => continue,
                }
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = wake.notified() => {}
                () = tokio::time::sleep(self.retry.poll) => {}
            }
        }
    }

    /// Returns (claimed, sent).
    async fn pass(&self, now: OffsetDateTime) -> Result<(usize, usize), VerificationError> {
        let claimed =
            store::claim_due(&self.pool, now, now + self.retry.lease, self.retry.batch).await?;
        let mut sent = 0;
        for message in &claimed {
            match self.deliver(message).await {
                Ok(()) => {
                    store::mark_sent(&self.pool, message.id, now).await?;
                    sent += 1;
                }
                Err(failure) => {
                    let give_up = failure.permanent || message.attempts >= self.retry.max_attempts;
                    tracing::warn!(
                        outbox_id = %message.id,
                        attempts = message.attempts,
                        error = failure.category,
                        give_up,
                        "email delivery failed"
                    );
                    if give_up {
                        store::mark_failed(&self.pool, message.id, failure.category).await?;
                    } else {
                        let next = now + self.retry.delay_after(message.attempts);
                        store::schedule_retry(&self.pool, message.id, next, failure.category)
                            .await?;
                    }
                }
            }
        }
        Ok((claimed.len(), sent))
    }

    async fn deliver(&self, claimed: &store::Claimed) -> Result<(), Failure> {
        let kind = MailKind::parse(&claimed.kind).ok_or(Failure::permanent("kind"))?;
        let bound_to = match kind {
            MailKind::VerifyEmail => claimed.user.ok_or(Failure::permanent("kind"))?,
            MailKind::OrgInvitation | MailKind::PasswordReset | MailKind::SecurityNotice => {
                claimed.id
            }
        };
        let address = email::open(
            self.cipher.as_ref(),
            bound_to,
            &claimed.recipient_ciphertext,
        )
        .await
        .map_err(|e| Failure::keys(&e))?;
        let link = zeroize::Zeroizing::new(
            self.cipher
                .decrypt(&claimed.link_ciphertext, &link_aad(claimed.id))
                .await
                .map_err(|e| Failure::keys(&e))?,
        );
        let link = std::str::from_utf8(&link).map_err(|_| Failure::permanent("decrypt"))?;
        let message = self.compose(kind, &address, link)?;
        self.mailer.send(&message).await
    }

    fn compose(
        &self,
        kind: MailKind,
        address: &email::Email,
        link: &str,
    ) -> Result<Message, Failure> {
        let to = Mailbox::from_str(address.as_str()).map_err(|_| Failure::permanent("address"))?;
        let text = kind.text(link);
        // The link line is longer than 7bit allows (76): quoted-printable, which
        // `latest_link` decodes.
        let body = Body::new_with_encoding(text, ContentTransferEncoding::QuotedPrintable)
            .map_err(|_| Failure::permanent("compose"))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(kind.subject())
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|_| Failure::permanent("compose"))
    }
}
