//! The `chats` and `direct_chats` tables. A chat is only ever loaded through its
//! participants (`find_for_participant`), so outsiders cannot tell a chat exists.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use crate::db::schema::{chat_participants, chats, direct_chats};
use crate::models::friends::ordered;
use crate::models::users::{NavCounts, NAV_COUNTS_COLUMNS};

/// A chat as one of its participants sees it.
#[derive(Debug, Clone, QueryableByName)]
pub struct ChatForUser {
    #[diesel(sql_type = SqlUuid)]
    pub chat_id: Uuid,
    #[diesel(sql_type = Bool)]
    pub is_group: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub last_seq: i64,
    #[diesel(sql_type = BigInt)]
    pub last_read_seq: i64,
    #[diesel(sql_type = Text)]
    pub role: String,
    /// The other person of a direct chat.
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub other_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub other_name: Option<String>,
}

impl ChatForUser {
    /// What the viewer calls this chat: the group's name, or the other person's.
    pub fn title(&self) -> &str {
        title(self.name.as_deref(), self.other_name.as_deref())
    }
}

/// A group is called by its name; a direct chat by the other person's username.
pub fn title<'a>(name: Option<&'a str>, other_name: Option<&'a str>) -> &'a str {
    name.or(other_name).unwrap_or("chat")
}

/// The columns of `ChatForUser`, and where they come from, for user `$1` and chat `$2`;
/// shared by `find_for_participant` and `open_for_participant`, which adds its own.
const CHAT_FOR_USER_COLUMNS: &str = "\
    c.chat_id, c.is_group, c.name, c.last_seq, p.last_read_seq, p.role, \
    o.user_id AS other_id, o.username AS other_name";
const CHAT_FOR_USER_FROM: &str = "\
    FROM chats c \
    JOIN chat_participants p ON p.chat_id = c.chat_id AND p.user_id = $1 \
    LEFT JOIN direct_chats d ON d.chat_id = c.chat_id \
    LEFT JOIN users o ON o.user_id = CASE WHEN d.user_low = $1 THEN d.user_high ELSE d.user_low END \
    WHERE c.chat_id = $2";

pub fn find_for_participant(conn: &mut PgConnection, chat_id: Uuid, user_id: Uuid) -> QueryResult<Option<ChatForUser>> {
    crate::db::prepared(format!("SELECT {CHAT_FOR_USER_COLUMNS} {CHAT_FOR_USER_FROM}"))
        .bind::<SqlUuid, _>(user_id)
        .bind::<SqlUuid, _>(chat_id)
        .get_result(conn)
        .optional()
}

/// What the chat page needs before its messages, in one round trip: the chat as its
/// participant sees it, whether they may send (a group, or a direct chat of friends),
/// and the badges of the navigation.
#[derive(Debug, Clone, QueryableByName)]
pub struct OpenedChat {
    #[diesel(embed)]
    pub chat: ChatForUser,
    #[diesel(sql_type = Bool)]
    pub can_send: bool,
    #[diesel(embed)]
    pub counts: NavCounts,
}

pub fn open_for_participant(conn: &mut PgConnection, chat_id: Uuid, user_id: Uuid) -> QueryResult<Option<OpenedChat>> {
    crate::db::prepared(format!(
        "SELECT {CHAT_FOR_USER_COLUMNS}, \
                (c.is_group OR EXISTS (SELECT 1 FROM friends f \
                                        WHERE f.user1 = d.user_low AND f.user2 = d.user_high)) AS can_send, \
                {NAV_COUNTS_COLUMNS} \
         {CHAT_FOR_USER_FROM}"
    ))
    .bind::<SqlUuid, _>(user_id)
    .bind::<SqlUuid, _>(chat_id)
    .get_result(conn)
    .optional()
}

/// Whether `user_id` takes part in `chat_id` (one primary-key probe).
pub fn is_participant(conn: &mut PgConnection, chat_id: Uuid, user_id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(chat_participants::table.find((chat_id, user_id)))).get_result(conn)
}

/// The direct chat of two people, created with its two participants on first use.
/// Race-free: the `direct_chats` primary key admits one chat per pair; a creator that
/// loses the race rolls back and takes the winner's chat.
pub fn find_or_create_direct(conn: &mut PgConnection, me: Uuid, friend: Uuid) -> QueryResult<Uuid> {
    let (low, high) = ordered(me, friend);
    let existing =
        |conn: &mut PgConnection| direct_chats::table.find((low, high)).select(direct_chats::chat_id).first::<Uuid>(conn).optional();
    if let Some(chat_id) = existing(conn)? {
        return Ok(chat_id);
    }
    let created = conn.transaction(|conn| {
        let chat_id = Uuid::now_v7();
        diesel::insert_into(chats::table)
            .values((chats::chat_id.eq(chat_id), chats::is_group.eq(false), chats::created_by.eq(me)))
            .execute(conn)?;
        let won = diesel::insert_into(direct_chats::table)
            .values((direct_chats::user_low.eq(low), direct_chats::user_high.eq(high), direct_chats::chat_id.eq(chat_id)))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if won == 0 {
            return Err(diesel::result::Error::RollbackTransaction);
        }
        diesel::insert_into(chat_participants::table)
            .values(vec![
                (chat_participants::chat_id.eq(chat_id), chat_participants::user_id.eq(low)),
                (chat_participants::chat_id.eq(chat_id), chat_participants::user_id.eq(high)),
            ])
            .execute(conn)?;
        Ok(chat_id)
    });
    match created {
        Err(diesel::result::Error::RollbackTransaction) => existing(conn)?.ok_or(diesel::result::Error::NotFound),
        other => other,
    }
}

/// One row of the chat list.
#[derive(Debug, Clone, QueryableByName)]
pub struct ChatListRow {
    #[diesel(sql_type = SqlUuid)]
    pub chat_id: Uuid,
    #[diesel(sql_type = Bool)]
    pub is_group: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub last_activity_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub unread: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub other_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    pub other_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_text: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_kind: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_sender: Option<String>,
    /// Up to four members of a group (ids), for its picture stack.
    #[diesel(sql_type = diesel::sql_types::Array<SqlUuid>)]
    pub member_ids: Vec<Uuid>,
}

/// All my chats, newest activity first, in one query.
pub fn list_for_user(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<Vec<ChatListRow>> {
    crate::db::prepared(
        "SELECT c.chat_id, c.is_group, c.name, c.last_activity_at, \
                (c.last_seq - p.last_read_seq) AS unread, \
                o.user_id AS other_id, o.username AS other_name, \
                m.text AS last_text, m.kind AS last_kind, s.username AS last_sender, \
                CASE WHEN c.is_group THEN ARRAY( \
                    SELECT gp.user_id FROM chat_participants gp WHERE gp.chat_id = c.chat_id \
                     ORDER BY gp.joined_at LIMIT 4) ELSE '{}'::uuid[] END AS member_ids \
           FROM chat_participants p \
           JOIN chats c ON c.chat_id = p.chat_id \
           LEFT JOIN direct_chats d ON d.chat_id = c.chat_id \
           LEFT JOIN users o ON o.user_id = CASE WHEN d.user_low = $1 THEN d.user_high ELSE d.user_low END \
           LEFT JOIN messages m ON m.chat_id = c.chat_id AND m.seq = c.last_seq \
           LEFT JOIN users s ON s.user_id = m.sender \
          WHERE p.user_id = $1 \
          ORDER BY c.last_activity_at DESC, c.chat_id",
    )
    .bind::<SqlUuid, _>(user_id)
    .load(conn)
}
