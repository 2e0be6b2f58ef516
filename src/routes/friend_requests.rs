//! Friend requests: send (`POST /friend-requests`), and the three answers: the receiver
//! accepts or rejects, the sender withdraws. They answer as `pages::friendship` says.

use actix_web::{web, HttpRequest, HttpResponse};
use diesel::{PgConnection, QueryResult};
use serde::Deserialize;

use super::id_in_path;
use crate::auth::{throttle, CurrentUser};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::domain::{Greeting, Username};
use crate::error::{wait_in_words, AppError};
use crate::live::Hub;
use crate::models::friend_requests::{self, Answered, NotAnswerable, SendRefusal, Sent};
use crate::models::{inbox, RequestId, UserId};
use crate::pages::friendship::{self, refuse, Origin, ReturnTo};
use crate::views::friends::RefusedRequest;
use crate::views::{self, is_htmx};

#[derive(Deserialize)]
pub struct NewRequest {
    #[serde(default)]
    to: String,
    #[serde(default)]
    greeting: String,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    q: String,
}

impl NewRequest {
    /// The form shown again with the input kept and why it was refused.
    fn refused(&self, greeting_error: Option<String>, error: Option<String>) -> RefusedRequest {
        RefusedRequest { to: self.to.trim().to_lowercase(), greeting: self.greeting.clone(), greeting_error, error }
    }
}

/// Sends a request; when they had already asked me, accepts theirs instead. Refusals
/// re-render the form with the message and the input kept (422).
pub async fn create(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    hub: web::Data<Hub>,
    req: HttpRequest,
    form: web::Form<NewRequest>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let origin = Origin::of(&form.return_to, &form.q);
    let htmx = is_htmx(&req);
    let greeting = match Greeting::parse(&form.greeting) {
        Ok(greeting) => greeting,
        Err(e) => return Ok(refuse(&user, &pool, htmx, &origin, form.refused(Some(e.to_string()), None)).await?.into_response()?),
    };
    let (sent, name) = match Username::parse(&form.to) {
        Ok(to) => {
            let (me, name) = (user.user_id, to.to_string());
            // Only new requests count (10 per 10 minutes): answering someone who asked
            // first, or a refusal, creates nothing.
            let (bucket, limit) = (throttle::bucket("friend_request", "user", &me.to_string()), settings.friend_requests_per_user());
            let counted = db::run(&pool, move |conn| {
                throttle::counted(
                    conn,
                    &bucket,
                    limit,
                    |conn| friend_requests::send(conn, me, &to, &greeting),
                    |sent| matches!(sent, Ok(Sent::Requested { .. })),
                )
                .map_err(AppError::from)
            })
            .await?;
            match counted {
                Ok(sent) => (sent, name),
                Err(t) => {
                    let why = format!("You have sent many friend requests lately. Please try again in {}.", wait_in_words(t.retry_after));
                    let page = refuse(&user, &pool, htmx, &origin, form.refused(None, Some(why))).await?.into_response()?;
                    return Ok(views::refused_for_now(page, t.retry_after));
                }
            }
        }
        Err(_) => (Err(SendRefusal::NoSuchUser), String::new()),
    };
    if let Ok(Sent::Requested { request_id } | Sent::AcceptedTheirs { request_id }) = &sent {
        poke_parties(&pool, &hub, *request_id).await;
    }
    let done = match sent {
        Ok(Sent::Requested { .. }) => format!("Friend request sent to {name}."),
        Ok(Sent::AcceptedTheirs { .. }) => format!("{name} had already asked you: you are friends now."),
        Err(why) => return Ok(refuse(&user, &pool, htmx, &origin, form.refused(None, Some(why.to_string()))).await?.into_response()?),
    };
    Ok(friendship::answer(&user, &pool, htmx, &origin, Ok(done)).await?.into_response()?)
}

pub async fn accept(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<ReturnTo>,
) -> Result<HttpResponse, AppError> {
    answer(user, pool, req, id, form, friend_requests::accept, |a| format!("You and {} are friends now.", a.other)).await
}

pub async fn reject(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<ReturnTo>,
) -> Result<HttpResponse, AppError> {
    answer(user, pool, req, id, form, friend_requests::reject, |a| format!("You rejected {}’s friend request.", a.other)).await
}

pub async fn withdraw(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<ReturnTo>,
) -> Result<HttpResponse, AppError> {
    answer(user, pool, req, id, form, friend_requests::withdraw, |a| format!("You withdrew your friend request to {}.", a.other)).await
}

/// The model function that closes a pending request: accept, reject or withdraw.
type Close = fn(&mut PgConnection, RequestId, UserId) -> QueryResult<Result<Answered, NotAnswerable>>;

/// One answer to request `id` by the current user, and what to tell them.
async fn answer(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<ReturnTo>,
    close: Close,
    say: impl FnOnce(&Answered) -> String,
) -> Result<HttpResponse, AppError> {
    let (me, id): (UserId, RequestId) = (user.user_id, id_in_path(&id)?);
    let answered = db::run(&pool, move |conn| close(conn, id, me).map_err(AppError::from)).await?;
    if let (Ok(a), Some(hub)) = (&answered, req.app_data::<web::Data<Hub>>()) {
        // Both people's badges and request lists.
        hub.poke(a.from_user);
        hub.poke(a.to_user);
    }
    let result = said(answered, say);
    Ok(friendship::answer(&user, &pool, is_htmx(&req), &form.origin(), result).await?.into_response()?)
}

/// After a request was sent (or answered by sending one back): both people's inboxes.
async fn poke_parties(pool: &DbPool, hub: &Hub, request_id: RequestId) {
    if let Ok(Some((from, to))) = db::run(pool, move |conn| inbox::parties(conn, request_id).map_err(AppError::from)).await {
        hub.poke(from);
        hub.poke(to);
    }
}

/// What to tell the user about an answer, or the refusal as 404/409.
fn said(answered: Result<Answered, NotAnswerable>, say: impl FnOnce(&Answered) -> String) -> Result<String, AppError> {
    answered.as_ref().map(say).map_err(|e| AppError::from(*e))
}
