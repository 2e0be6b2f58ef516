//! Views of the schema, declared by hand: `diesel print-schema` sees only tables.
//! `chats_as_seen` is defined in migration 000007 (`last_rev` added by 000025).

diesel::table! {
    /// Every chat as one of its participants (`viewer`) sees it; no row for anyone else.
    chats_as_seen (viewer, chat_id) {
        viewer -> Uuid,
        chat_id -> Uuid,
        is_group -> Bool,
        name -> Nullable<Text>,
        last_seq -> Int8,
        last_activity_at -> Timestamptz,
        last_read_seq -> Int8,
        role -> Text,
        other_id -> Nullable<Uuid>,
        other_name -> Nullable<Text>,
        can_send -> Bool,
        last_rev -> Int8,
    }
}
