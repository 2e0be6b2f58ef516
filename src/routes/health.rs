use crate::db::{self, DbPool};
use crate::error::{AppError, UNAVAILABLE_RETRY_SECS};
use crate::models;
use actix_web::{web, HttpResponse};

/// 200 `ok` when the database answers, 503 otherwise.
pub async fn check(pool: web::Data<DbPool>) -> HttpResponse {
    match db::run(&pool, |conn| models::ping(conn).map_err(AppError::from)).await {
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
