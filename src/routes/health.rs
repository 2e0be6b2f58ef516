use actix_web::{web, HttpResponse};
use diesel::RunQueryDsl;

use crate::db::{self, DbPool};

/// 200 `ok` when the database answers, 503 otherwise.
pub async fn check(pool: web::Data<DbPool>) -> HttpResponse {
    match db::run(&pool, |conn| diesel::sql_query("SELECT 1").execute(conn)).await {
        Ok(_) => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable().content_type("text/plain").body("database unavailable")
        }
    }
}
