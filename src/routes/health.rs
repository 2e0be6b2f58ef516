use actix_web::{web, HttpResponse};
use diesel::RunQueryDsl;

use crate::db::{self, DbPool};
use crate::error::UNAVAILABLE_RETRY_SECS;

/// 200 `ok` when the database answers, 503 otherwise.
pub async fn check(pool: web::Data<DbPool>) -> HttpResponse {
    match db::run(&pool, |conn| diesel::sql_query("SELECT 1").execute(conn)).await {
        Ok(_) => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            // Like every 503 here: a load balancer or client may try again shortly.
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .insert_header((actix_web::http::header::RETRY_AFTER, UNAVAILABLE_RETRY_SECS))
                .body("database unavailable")
        }
    }
}
