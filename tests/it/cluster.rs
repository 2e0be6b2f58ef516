//! Migrations (down and up again) and the private cluster the app runs without DATABASE_URL.

use chaat::db::migrate;
use diesel::sql_types::Uuid as SqlUuid;
use diesel::RunQueryDsl;
use uuid::Uuid;

use crate::helpers::{count, TestDb};

#[actix_web::test]
async fn every_down_migration_reverses_its_up_migration() {
    let db = TestDb::new();
    let mut conn = db.conn();
    migrate::revert_all(&mut conn).expect("all down migrations run");
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' AND tablename <> '__diesel_schema_migrations'"),
        0
    );
    migrate::run_pending(&db.url).expect("and up again");
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'messages'"), 1);
}

#[actix_web::test]
async fn the_database_enforces_the_rules_of_the_data_model() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let a: Uuid = "00000000-0000-7000-8000-00000000000a".parse().unwrap();
    let b: Uuid = "00000000-0000-7000-8000-00000000000b".parse().unwrap();
    let c: Uuid = "00000000-0000-7000-8000-0000000000c1".parse().unwrap();
    // Every statement gets the same parameters: alice's id ($1), bob's ($2), the chat's ($3).
    let ok = |conn: &mut diesel::PgConnection, sql: &str| {
        diesel::sql_query(sql).bind::<SqlUuid, _>(a).bind::<SqlUuid, _>(b).bind::<SqlUuid, _>(c).execute(conn).is_ok()
    };
    assert!(ok(
        &mut conn,
        "INSERT INTO users (user_id, username, dynamic_salt, pwd_hash) VALUES ($1, 'alice', 's', 'h'), ($2, 'bob', 's', 'h')"
    ));
    assert!(
        !ok(&mut conn, "INSERT INTO users (user_id, username, dynamic_salt, pwd_hash) VALUES (gen_random_uuid(), 'Alice', 's', 'h')"),
        "upper case refused"
    );
    assert!(
        !ok(&mut conn, "INSERT INTO friends (id, user1, user2) VALUES (gen_random_uuid(), GREATEST($1, $2), LEAST($1, $2))"),
        "user1 < user2"
    );
    assert!(
        !ok(
            &mut conn,
            "INSERT INTO friend_requests (request_id, from_user, to_user, greeting) VALUES (gen_random_uuid(), $1, $2, repeat('x', 201))"
        ),
        "greeting ≤ 200"
    );
    assert!(
        !ok(&mut conn, "INSERT INTO friend_requests (request_id, from_user, to_user) VALUES (gen_random_uuid(), $1, $1)"),
        "not to yourself"
    );
    assert!(ok(&mut conn, "INSERT INTO friend_requests (request_id, from_user, to_user) VALUES (gen_random_uuid(), $1, $2)"));
    assert!(
        !ok(&mut conn, "INSERT INTO friend_requests (request_id, from_user, to_user) VALUES (gen_random_uuid(), $2, $1)"),
        "one pending per pair, either direction"
    );
    assert!(ok(&mut conn, "INSERT INTO chats (chat_id, is_group, created_by) VALUES ($3, false, $1)"));
    assert!(
        !ok(&mut conn, "INSERT INTO direct_chats (user_low, user_high, chat_id) VALUES (GREATEST($1, $2), LEAST($1, $2), $3)"),
        "user_low < user_high"
    );
    assert!(
        !ok(
            &mut conn,
            "INSERT INTO messages (message_id, chat_id, seq, rev, sender, text) VALUES (gen_random_uuid(), $3, 1, 1, $1, repeat('x', 4001))"
        ),
        "message ≤ 4000"
    );
    assert!(
        !ok(&mut conn, "INSERT INTO messages (message_id, chat_id, seq, rev, sender, text) VALUES (gen_random_uuid(), $3, 1, 1, $1, '  ')"),
        "message not blank"
    );
    assert!(ok(
        &mut conn,
        "INSERT INTO messages (message_id, chat_id, seq, rev, sender, text) VALUES (gen_random_uuid(), $3, 1, 1, $1, 'hi')"
    ));
    assert!(
        !ok(&mut conn, "INSERT INTO messages (message_id, chat_id, seq, rev, sender, text) VALUES (gen_random_uuid(), $3, 1, 1, $2, 'hi')"),
        "unique (chat_id, seq)"
    );
}

#[test]
fn the_app_runs_its_own_cluster_and_stops_it() {
    if std::env::var("DATABASE_URL").is_ok() {
        return; // this test is about running without one
    }
    let dir = std::env::temp_dir().join(format!("chaat-own-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let settings = chaat::config::Settings { data_dir: dir.clone(), ..chaat::config::Settings::defaults() };
    let database = chaat::startup::Database::open(&settings).expect("create, start and migrate");
    assert!(dir.join("pgdata/PG_VERSION").exists(), "created in the data directory");
    assert!(dir.join("run/.s.PGSQL.5432").exists(), "a Unix socket inside it");
    let mut conn = <diesel::PgConnection as diesel::Connection>::establish(&database.url).unwrap();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'users'"), 1);
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM pg_settings WHERE name = 'listen_addresses' AND setting = ''"),
        1,
        "no TCP port"
    );
    drop(conn);
    // A second start on the same directory reuses the running cluster and does not own it.
    let again = chaat::startup::Database::open(&settings).expect("open again");
    assert!(again.started_cluster.is_none());
    again.close();
    database.close();
    assert!(!dir.join("pgdata/postmaster.pid").exists(), "stopped on close");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `src/db/schema.rs` (what Diesel compiles against) describes exactly the migrated
/// tables, and `src/db/views.rs` the views (PostgreSQL reports every view column as
/// nullable, so only names and types are compared there).
#[actix_web::test]
async fn the_diesel_schema_matches_the_migrated_database() {
    #[derive(diesel::QueryableByName, Debug)]
    struct Column {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        column_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        data_type: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        is_nullable: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        is_view: bool,
    }
    let db = TestDb::new();
    let columns = diesel::sql_query(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.is_nullable::text, \
                (t.table_type = 'VIEW') AS is_view \
           FROM information_schema.columns c \
           JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
          WHERE c.table_schema = 'public' AND c.table_name <> '__diesel_schema_migrations'",
    )
    .load::<Column>(&mut db.conn())
    .unwrap();
    let live = |views: bool| {
        let mut found: Vec<String> = columns
            .iter()
            .filter(|c| c.is_view == views)
            .map(|c| {
                let nullable = if views { "" } else { c.is_nullable.as_str() };
                format!("{}.{} {} {nullable}", c.table_name, c.column_name, c.data_type)
            })
            .collect();
        found.sort();
        found
    };
    assert_eq!(declared("schema.rs", false), live(false));
    assert_eq!(declared("views.rs", true), live(true));
}

/// The columns a `diesel::table!` file under src/db/ declares, as `table.column type nullable`
/// (nullability left out for views).
fn declared(file: &str, views: bool) -> Vec<String> {
    let schema = std::fs::read_to_string(format!("{}/src/db/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut declared = Vec::new();
    let mut table = String::new();
    for line in schema.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
        if let Some(rest) = line.strip_suffix('{') {
            table = rest.split(" (").next().unwrap().trim().to_string();
        } else if let Some((column, ty)) = line.strip_suffix(',').and_then(|l| l.split_once(" -> ")) {
            let (ty, nullable) = match ty.strip_prefix("Nullable<").and_then(|t| t.strip_suffix('>')) {
                Some(inner) => (inner, "YES"),
                None => (ty, "NO"),
            };
            let pg = match ty {
                "Uuid" => "uuid",
                "Text" => "text",
                "Timestamptz" => "timestamp with time zone",
                "Int2" => "smallint",
                "Int4" => "integer",
                "Int8" => "bigint",
                "Bool" => "boolean",
                "Bytea" => "bytea",
                "Jsonb" => "jsonb",
                "Tsvector" => "tsvector",
                other => panic!("unexpected type {other} in {file}"),
            };
            let nullable = if views { "" } else { nullable };
            declared.push(format!("{table}.{column} {pg} {nullable}"));
        }
    }
    declared.sort();
    declared
}
