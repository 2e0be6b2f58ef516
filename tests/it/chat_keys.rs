//! Issue 20's schema for the path past one primary (migration 000033): edits, reactions
//! and file chunks carry their chat's id, filled from the parent row for a database that
//! had them before, and the composite keys refuse a child whose chat disagrees with its
//! parent's.

use diesel::migration::MigrationSource;
use diesel::{Connection, PgConnection, RunQueryDsl};
use diesel_migrations::MigrationHarness;

use crate::helpers::{count, TestDb};

// Two people, two groups with a message each (alice's "one" in c1, "two" in c2).
const PEOPLE_AND_CHATS: [&str; 3] = [
    "INSERT INTO users (user_id, username, dynamic_salt, pwd_hash) VALUES \
       ('00000000-0000-7000-8000-00000000000a', 'alice', 's', 'h'), ('00000000-0000-7000-8000-00000000000b', 'bob', 's', 'h')",
    "INSERT INTO chats (chat_id, name, is_group, created_by) VALUES \
       ('00000000-0000-7000-8000-0000000000c1', 'one', true, '00000000-0000-7000-8000-00000000000a'), \
       ('00000000-0000-7000-8000-0000000000c2', 'two', true, '00000000-0000-7000-8000-00000000000a')",
    "INSERT INTO chat_participants (chat_id, user_id) \
       SELECT c, u FROM unnest('{00000000-0000-7000-8000-0000000000c1,00000000-0000-7000-8000-0000000000c2}'::uuid[]) c, \
                        unnest('{00000000-0000-7000-8000-00000000000a,00000000-0000-7000-8000-00000000000b}'::uuid[]) u",
];
const SEND_ONE: &str = "SELECT * FROM send_message('00000000-0000-7000-8000-0000000000c1', '00000000-0000-7000-8000-0000000000e1', \
       '00000000-0000-7000-8000-00000000000a', 'one', NULL, 'text', NULL, '{}')";
const SEND_TWO: &str = "SELECT * FROM send_message('00000000-0000-7000-8000-0000000000c2', '00000000-0000-7000-8000-0000000000e2', \
       '00000000-0000-7000-8000-00000000000a', 'two', NULL, 'text', NULL, '{}')";
/// A file of message "two" (chat c2), inserted with the columns of 000024.
const FILE_OF_TWO: &str =
    "INSERT INTO attachments (attachment_id, message_id, chat_id, uploader, position, name, size, kind, content_type, sha256) \
       VALUES ('00000000-0000-7000-8000-0000000000f2', '00000000-0000-7000-8000-0000000000e2', '00000000-0000-7000-8000-0000000000c2', \
               '00000000-0000-7000-8000-00000000000a', 0, 'notes.txt', 3, 'file', 'application/octet-stream', repeat('a', 64))";

fn run(conn: &mut PgConnection, sqls: &[&str]) {
    for sql in sqls {
        diesel::sql_query(*sql).execute(conn).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// A database that had edits, reactions and a file in two chats before 000033: the
/// migration gives each row its parent's chat, none another's.
#[actix_web::test]
async fn chat_keys_the_migration_fills_chat_id_from_the_parent_rows() {
    let db = TestDb::new();
    let mut conn = db.conn();
    let all = MigrationSource::<diesel::pg::Pg>::migrations(&chaat::db::migrate::MIGRATIONS).unwrap();
    let m = all.iter().find(|m| m.name().to_string().ends_with("000033_chat_id_on_children")).expect("000033");
    conn.revert_migration(m.as_ref()).expect("revert 000033");
    let has_column = "SELECT count(*) AS n FROM information_schema.columns \
                       WHERE column_name = 'chat_id' AND table_name IN ('message_edits', 'message_reactions', 'attachment_chunks')";
    assert_eq!(count(&mut conn, has_column), 0, "as before 000033");

    run(&mut conn, &PEOPLE_AND_CHATS);
    run(&mut conn, &[SEND_ONE, SEND_TWO, FILE_OF_TWO]);
    // Rows written the way the app wrote them before (no chat_id), in both chats.
    run(
        &mut conn,
        &[
            "INSERT INTO message_edits (message_id, replaced_rev, text, written_at) \
               SELECT message_id, rev, 'earlier ' || text, sent_time FROM messages",
            "INSERT INTO message_reactions (message_id, emoji, user_id) \
               SELECT m.message_id, e, u.user_id FROM messages m, unnest('{👍,🎉}'::text[]) e, users u",
            "INSERT INTO attachment_chunks (attachment_id, n, bytes) VALUES \
               ('00000000-0000-7000-8000-0000000000f2', 0, 'ab'), ('00000000-0000-7000-8000-0000000000f2', 1, 'c')",
        ],
    );

    chaat::db::migrate::run_pending(&db.url).expect("000033 runs on the filled tables");
    assert_eq!(count(&mut conn, has_column), 3);
    // Each row's chat is its parent's, and both chats are there (not one chat for all).
    for (table, rows, join) in [
        ("message_edits", 2, "JOIN messages p ON p.message_id = t.message_id AND p.chat_id = t.chat_id"),
        ("message_reactions", 8, "JOIN messages p ON p.message_id = t.message_id AND p.chat_id = t.chat_id"),
        ("attachment_chunks", 2, "JOIN attachments p ON p.attachment_id = t.attachment_id AND p.chat_id = t.chat_id"),
    ] {
        assert_eq!(count(&mut conn, &format!("SELECT count(*) AS n FROM {table} t {join}")), rows, "{table}");
    }
    assert_eq!(count(&mut conn, "SELECT count(DISTINCT chat_id) AS n FROM message_edits"), 2);
    assert_eq!(count(&mut conn, "SELECT count(DISTINCT chat_id) AS n FROM message_reactions"), 2);
    let chunks_of_c2 = "SELECT count(*) AS n FROM attachment_chunks WHERE chat_id = '00000000-0000-7000-8000-0000000000c2'";
    assert_eq!(count(&mut conn, chunks_of_c2), 2);
}

/// The constraint an insert breaks, checked at the statement (the file keys are
/// deferred to the commit for uploads; `SET CONSTRAINTS` brings them forward here).
fn refused_by(conn: &mut PgConnection, sql: &str) -> Option<String> {
    let result = conn.transaction(|conn| {
        diesel::sql_query("SET CONSTRAINTS ALL IMMEDIATE").execute(conn)?;
        diesel::sql_query(sql).execute(conn)?;
        // Never keep what was tried: every case starts from the same rows.
        Err::<(), _>(diesel::result::Error::RollbackTransaction)
    });
    match result {
        Err(diesel::result::Error::DatabaseError(_, info)) => Some(info.constraint_name().unwrap_or("(none)").to_string()),
        Err(diesel::result::Error::RollbackTransaction) => None,
        Err(e) => panic!("{sql}: {e}"),
        Ok(()) => unreachable!(),
    }
}

/// Carrying the chat is only worth it if the database keeps it true: a child naming
/// another chat than its parent's is refused by the composite foreign key, for every
/// table that carries one, while the same row with the right chat is accepted.
#[actix_web::test]
async fn chat_keys_a_child_whose_chat_disagrees_with_its_parent_is_refused() {
    let db = TestDb::new();
    let mut conn = db.conn();
    run(&mut conn, &PEOPLE_AND_CHATS);
    run(&mut conn, &[SEND_ONE, SEND_TWO, FILE_OF_TWO]);
    let (c1, c2) = ("'00000000-0000-7000-8000-0000000000c1'", "'00000000-0000-7000-8000-0000000000c2'");
    let cases = [
        (
            "message_edits_message_fkey",
            "INSERT INTO message_edits (message_id, chat_id, replaced_rev, text, written_at) \
               VALUES ('00000000-0000-7000-8000-0000000000e2', CHAT, 1, 'earlier', now())",
        ),
        (
            "message_reactions_message_fkey",
            "INSERT INTO message_reactions (message_id, chat_id, emoji, user_id) \
               VALUES ('00000000-0000-7000-8000-0000000000e2', CHAT, '👍', '00000000-0000-7000-8000-00000000000b')",
        ),
        (
            "attachment_chunks_attachment_fkey",
            "INSERT INTO attachment_chunks (attachment_id, chat_id, n, bytes) VALUES ('00000000-0000-7000-8000-0000000000f2', CHAT, 0, 'ab')",
        ),
        (
            "attachments_message_fkey",
            "INSERT INTO attachments (attachment_id, message_id, chat_id, uploader, position, name, size, kind, content_type, sha256) \
               VALUES (gen_random_uuid(), '00000000-0000-7000-8000-0000000000e2', CHAT, '00000000-0000-7000-8000-00000000000a', \
                       1, 'more.txt', 3, 'file', 'application/octet-stream', repeat('b', 64))",
        ),
    ];
    for (constraint, sql) in cases {
        // The parent (message "two", its file) is of c2: c1 is another chat's id.
        assert_eq!(refused_by(&mut conn, &sql.replace("CHAT", c1)).as_deref(), Some(constraint), "{sql}");
        assert_eq!(refused_by(&mut conn, &sql.replace("CHAT", c2)), None, "the right chat is accepted: {sql}");
    }
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM message_edits"), 0, "nothing kept");
}
