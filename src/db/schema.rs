// @generated automatically by Diesel CLI.

pub mod sql_types {
    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "tsvector", schema = "pg_catalog"))]
    pub struct Tsvector;
}

diesel::table! {
    attachment_chunks (attachment_id, chat_id, n) {
        attachment_id -> Uuid,
        n -> Int4,
        bytes -> Bytea,
        chat_id -> Uuid,
    }
}

diesel::table! {
    attachments (attachment_id, chat_id) {
        attachment_id -> Uuid,
        message_id -> Uuid,
        chat_id -> Uuid,
        uploader -> Uuid,
        position -> Int2,
        name -> Text,
        size -> Int8,
        kind -> Text,
        content_type -> Text,
        sha256 -> Text,
        width -> Nullable<Int4>,
        height -> Nullable<Int4>,
        thumbnail -> Nullable<Bytea>,
        thumb_type -> Nullable<Text>,
        thumb_width -> Nullable<Int4>,
        thumb_height -> Nullable<Int4>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    auth_throttle (bucket) {
        bucket -> Text,
        window_start -> Timestamptz,
        hits -> Int4,
    }
}

diesel::table! {
    blocks (blocker, blocked) {
        blocker -> Uuid,
        blocked -> Uuid,
        since -> Timestamptz,
    }
}

diesel::table! {
    chat_participants (chat_id, user_id) {
        chat_id -> Uuid,
        user_id -> Uuid,
        joined_at -> Timestamptz,
        role -> Text,
        last_read_seq -> Int8,
        muted_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    chats (chat_id) {
        chat_id -> Uuid,
        name -> Nullable<Text>,
        is_group -> Bool,
        creation_time -> Timestamptz,
        created_by -> Nullable<Uuid>,
        last_seq -> Int8,
        last_activity_at -> Timestamptz,
        last_rev -> Int8,
    }
}

diesel::table! {
    direct_chats (user_low, user_high) {
        user_low -> Uuid,
        user_high -> Uuid,
        chat_id -> Uuid,
    }
}

diesel::table! {
    display_pictures (user_id) {
        user_id -> Uuid,
        content_type -> Text,
        bytes -> Bytea,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    friend_requests (request_id) {
        request_id -> Uuid,
        sent_date -> Timestamptz,
        greeting -> Text,
        status -> Text,
        from_user -> Uuid,
        to_user -> Uuid,
        responded_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    friends (id) {
        id -> Uuid,
        user1 -> Uuid,
        user2 -> Uuid,
        since -> Timestamptz,
    }
}

diesel::table! {
    held_usernames (name_hash) {
        name_hash -> Bytea,
        free_after -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Tsvector;

    messages (message_id, chat_id) {
        message_id -> Uuid,
        chat_id -> Uuid,
        seq -> Int8,
        sender -> Uuid,
        sent_time -> Timestamptz,
        text -> Text,
        client_id -> Nullable<Uuid>,
        kind -> Text,
        rev -> Int8,
        edited_at -> Nullable<Timestamptz>,
        deleted_at -> Nullable<Timestamptz>,
        reply_to -> Nullable<Int8>,
        search_vector -> Tsvector,
    }
}

diesel::table! {
    message_edits (message_id, chat_id, replaced_rev) {
        message_id -> Uuid,
        replaced_rev -> Int8,
        text -> Text,
        written_at -> Timestamptz,
        chat_id -> Uuid,
    }
}

diesel::table! {
    message_mentions (user_id, chat_id, seq) {
        chat_id -> Uuid,
        seq -> Int8,
        user_id -> Uuid,
    }
}

diesel::table! {
    message_reactions (message_id, chat_id, emoji, user_id) {
        message_id -> Uuid,
        emoji -> Text,
        user_id -> Uuid,
        reacted_at -> Timestamptz,
        chat_id -> Uuid,
    }
}

diesel::table! {
    oidc_identities (issuer, subject) {
        issuer -> Text,
        subject -> Text,
        user_id -> Uuid,
        linked_at -> Timestamptz,
    }
}

diesel::table! {
    recovery_codes (user_id, code_hash) {
        user_id -> Uuid,
        code_hash -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (key_hash) {
        key_hash -> Bytea,
        user_id -> Nullable<Uuid>,
        data -> Jsonb,
        user_agent -> Nullable<Text>,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    users (user_id) {
        user_id -> Uuid,
        username -> Text,
        dynamic_salt -> Text,
        pwd_hash -> Nullable<Text>,
        join_date -> Timestamptz,
        display_picture -> Nullable<Text>,
        notify -> Bool,
        notify_previews -> Bool,
        request_policy -> Text,
    }
}

diesel::joinable!(attachments -> chats (chat_id));
diesel::joinable!(attachments -> users (uploader));
diesel::joinable!(chat_participants -> chats (chat_id));
diesel::joinable!(chat_participants -> users (user_id));
diesel::joinable!(chats -> users (created_by));
diesel::joinable!(direct_chats -> chats (chat_id));
diesel::joinable!(display_pictures -> users (user_id));
diesel::joinable!(message_mentions -> users (user_id));
diesel::joinable!(message_reactions -> users (user_id));
diesel::joinable!(messages -> chats (chat_id));
diesel::joinable!(oidc_identities -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    attachment_chunks,
    attachments,
    auth_throttle,
    blocks,
    chat_participants,
    chats,
    direct_chats,
    display_pictures,
    friend_requests,
    friends,
    held_usernames,
    message_edits,
    message_mentions,
    message_reactions,
    messages,
    oidc_identities,
    recovery_codes,
    sessions,
    users,
);

diesel::table! {
    app_secrets (name) {
        name -> Text,
        value -> Bytea,
    }
}
