//! Sign in with an OpenID Connect provider (SPEC 11): discovery, the authorization
//! request (code flow, PKCE S256, `state`, `nonce`), the code exchange and the ID token
//! check. Every protocol step is the `openidconnect` crate's; this module only keeps the
//! provider's metadata (and keys) cached, refetches the keys once when a token names a
//! key it does not know, and turns the crate's errors into what a person is told.
//!
//! The handlers keep what is pending (state, nonce, PKCE verifier, what the flow is
//! for) in the visitor's session (`TypedSession::put`), and take it out at the callback
//! whatever happens, so each is used once.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::Utc;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    reqwest, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken as State, IssuerUrl, JsonWebKeySet, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError, TokenResponse,
};
use serde::{Deserialize, Serialize};

use super::tokens;
use crate::config::OidcSettings;
use crate::error::AppError;
use crate::models::UserId;

/// How long a started sign-in may take at the provider, and how long a verified
/// identity waits for its username (first sign-in).
pub const PENDING_SECS: i64 = 600;
/// Tolerated clock difference with the provider (`exp`, `iat`).
const CLOCK_SKEW_SECS: i64 = 60;
/// How old an ID token may be when it arrives.
const MAX_TOKEN_AGE_SECS: i64 = 600;
/// Every request to the provider (discovery, keys, token) gives up after this.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// What a flow was started for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    /// Sign in (or make an account at the first sign-in).
    SignIn,
    /// Link the provider account to this logged-in person (Settings).
    Link(UserId),
}

/// A started flow, kept in the visitor's session until the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    pub purpose: Purpose,
    /// Unix seconds when it started.
    at: i64,
}

impl Pending {
    /// Whether `state` (from the callback) is this flow's, and the flow is not too old.
    pub fn matches(&self, state: &str) -> bool {
        tokens::constant_time_eq(self.state.as_bytes(), state.as_bytes()) && Utc::now().timestamp() - self.at <= PENDING_SECS
    }
}

/// A provider account whose ID token was verified.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    /// The provider's `preferred_username`, only ever a suggestion.
    pub preferred_username: Option<String>,
    /// Unix seconds when it was verified.
    pub at: i64,
}

impl Identity {
    pub fn is_fresh(&self) -> bool {
        Utc::now().timestamp() - self.at <= PENDING_SECS
    }
}

/// Why a sign-in with the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered nonsense (502).
    #[error("{0}")]
    Unreachable(String),
    /// What came back was refused: the code, the token (400).
    #[error("{0}")]
    Refused(String),
}

impl From<OidcError> for AppError {
    fn from(e: OidcError) -> Self {
        match e {
            OidcError::Unreachable(why) => {
                tracing::warn!(%why, "OpenID provider unreachable");
                AppError::ProviderUnavailable
            }
            OidcError::Refused(why) => {
                tracing::warn!(%why, "OpenID sign-in refused");
                AppError::SignInFailed(why)
            }
        }
    }
}

/// The configured provider: its settings, an HTTP client, and its metadata (with its
/// keys) once discovered.
pub struct Oidc {
    settings: OidcSettings,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    metadata: RwLock<Option<CoreProviderMetadata>>,
    /// The origins the sign-in form's redirect may lead to (the pages' CSP
    /// `form-action`): the issuer's, and the authorization endpoint's once discovered.
    form_action: RwLock<String>,
}

impl Oidc {
    pub fn new(settings: OidcSettings) -> anyhow::Result<Self> {
        let issuer = IssuerUrl::new(settings.issuer.clone()).map_err(|e| anyhow::anyhow!("CHAAT_OIDC_ISSUER: {e}"))?;
        let redirect = RedirectUrl::new(settings.redirect_uri.clone()).map_err(|e| anyhow::anyhow!("CHAAT_PUBLIC_URL: {e}"))?;
        // No redirects: the crate's advice against SSRF (a provider's answer must come
        // from the URL it names).
        let http = reqwest::ClientBuilder::new().redirect(reqwest::redirect::Policy::none()).timeout(HTTP_TIMEOUT).build()?;
        let form_action = RwLock::new(issuer.url().origin().ascii_serialization());
        Ok(Oidc { settings, issuer, redirect, http, metadata: RwLock::new(None), form_action })
    }

    /// The button's label: "Sign in with {name}".
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The issuer, as links are stored.
    pub fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// The issuer's origin (`https://id.example.org`).
    pub fn origin(&self) -> String {
        self.issuer.url().origin().ascii_serialization()
    }

    /// The origins forms may lead to besides the app's own, space-separated, for the
    /// pages' CSP `form-action`: the sign-in form's POST is answered with a 303 to the
    /// authorization endpoint, and browsers check every redirect after a form submit
    /// against the submitting page's `form-action`. The issuer's origin until the
    /// provider is discovered, then the authorization endpoint's too when it differs.
    pub fn form_action_origins(&self) -> String {
        self.form_action.read().map(|o| o.clone()).unwrap_or_else(|_| self.origin())
    }

    /// Discovers the provider now, in the background, retrying every 30 s until it
    /// answers: so that pages already allow the authorization endpoint's origin
    /// (`form_action_origins`) when someone first signs in. Chaat serves meanwhile, and
    /// a sign-in before then discovers the provider itself.
    pub fn discover_in_background(self: Arc<Self>) {
        actix_web::rt::spawn(async move {
            loop {
                match self.metadata().await {
                    Ok(_) => return,
                    Err(e) => tracing::warn!(error = %e, "the OpenID provider is not reachable yet; retrying in 30 s"),
                }
                actix_web::rt::time::sleep(Duration::from_secs(30)).await;
            }
        });
    }

    fn cached(&self) -> Option<CoreProviderMetadata> {
        self.metadata.read().ok().and_then(|m| m.clone())
    }

    fn remember(&self, metadata: &CoreProviderMetadata) {
        let endpoint = metadata.authorization_endpoint().url().origin().ascii_serialization();
        let issuer = self.origin();
        if let Ok(mut origins) = self.form_action.write() {
            *origins = if endpoint == issuer { issuer } else { format!("{issuer} {endpoint}") };
        }
        if let Ok(mut cached) = self.metadata.write() {
            *cached = Some(metadata.clone());
        }
    }

    /// The provider's metadata and keys: discovered at first use, then cached.
    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        if let Some(metadata) = self.cached() {
            return Ok(metadata);
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| OidcError::Unreachable(format!("discovery at {} failed: {e}", self.issuer.as_str())))?;
        self.remember(&metadata);
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Where to send the browser, and what to keep in its session until it comes back.
    pub async fn start(&self, purpose: Purpose) -> Result<(String, Pending), OidcError> {
        let metadata = self.metadata().await?;
        let client = self.client(metadata);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, State::new_random, Nonce::new_random)
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            purpose,
            at: Utc::now().timestamp(),
        };
        Ok((url.to_string(), pending))
    }

    /// Exchanges `code` (with the PKCE verifier) and verifies the ID token: signature by
    /// the provider's keys (refetched once for an unknown key id), `iss`, `aud`, `azp`,
    /// `exp` and `iat` (with a minute of clock skew), `nonce`.
    pub async fn finish(&self, pending: &Pending, code: &str) -> Result<Identity, OidcError> {
        let metadata = self.metadata().await?;
        let client = self.client(metadata.clone());
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Unreachable(format!("the provider has no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()));
        let response = request.request_async(&self.http).await.map_err(|e| match e {
            RequestTokenError::ServerResponse(refused) => OidcError::Refused(format!("the provider refused the sign-in code ({refused})")),
            other => OidcError::Unreachable(format!("the token request failed: {other}")),
        })?;
        let id_token = response.id_token().ok_or_else(|| OidcError::Refused("the provider sent no ID token".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());

        let verify = |client: &CoreClient<_, _, _, _, _, _>| -> Result<Identity, ClaimsVerificationError> {
            let verifier = client
                .id_token_verifier()
                .set_time_fn(|| Utc::now() - chrono::Duration::seconds(CLOCK_SKEW_SECS))
                .set_issue_time_verifier_fn(|iat| {
                    let age = (Utc::now() - iat).num_seconds();
                    if !(-CLOCK_SKEW_SECS..=MAX_TOKEN_AGE_SECS).contains(&age) {
                        return Err(format!("issued at {iat}, too far from now"));
                    }
                    Ok(())
                });
            let claims = id_token.claims(&verifier, &nonce)?;
            Ok(Identity {
                issuer: self.issuer.as_str().to_string(),
                subject: claims.subject().as_str().to_string(),
                preferred_username: claims.preferred_username().map(|u| u.as_str().to_string()),
                at: Utc::now().timestamp(),
            })
        };
        match verify(&client) {
            Ok(identity) => Ok(identity),
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                // The provider may have rotated its keys: fetch them once more.
                let keys = JsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
                    .await
                    .map_err(|e| OidcError::Unreachable(format!("fetching the provider's keys failed: {e}")))?;
                let metadata = metadata.set_jwks(keys);
                self.remember(&metadata);
                verify(&self.client(metadata)).map_err(refused)
            }
            Err(e) => Err(refused(e)),
        }
    }
}

fn refused(e: ClaimsVerificationError) -> OidcError {
    let what = match &e {
        ClaimsVerificationError::SignatureVerification(_) => "its signature is not the provider's",
        ClaimsVerificationError::InvalidAudience(_) => "it was meant for another application",
        ClaimsVerificationError::InvalidIssuer(_) => "it comes from another issuer",
        ClaimsVerificationError::InvalidNonce(_) => "it belongs to another sign-in",
        ClaimsVerificationError::Expired(_) => "it has expired",
        _ => "it is not valid",
    };
    OidcError::Refused(format!("the provider's ID token was refused: {what} ({e})"))
}

/// Whether sign-in with a provider is configured: app data of every instance.
#[derive(Clone, Default)]
pub struct OidcState(pub Option<Arc<Oidc>>);

impl OidcState {
    /// The button's label when configured.
    pub fn name(&self) -> Option<String> {
        self.0.as_ref().map(|o| o.name().to_string())
    }
}

/// The configured provider; extracting it where none is configured answers 404.
pub struct OidcClient(pub Arc<Oidc>);

impl FromRequest for OidcClient {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = req.app_data::<web::Data<OidcState>>().and_then(|s| s.0.clone());
        std::future::ready(found.map(OidcClient).ok_or(AppError::NotFound))
    }
}
