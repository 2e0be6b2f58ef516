//! Typed ids: a chat id cannot be passed where a user id is wanted. Each maps to its
//! column type (`uuid`, `bigint`) in both directions, so queries bind and load them as
//! they are. Ids of rows we create are new UUIDv7 (time-ordered, good index locality).

use std::fmt;
use std::str::FromStr;

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, diesel::AsExpression, diesel::FromSqlRow, serde::Serialize, serde::Deserialize,
        )]
        #[diesel(sql_type = SqlUuid)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh id for a row about to be inserted.
            pub fn new_v7() -> Self {
                $name(Uuid::now_v7())
            }

            pub fn as_uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                $name(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl ToSql<SqlUuid, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <Uuid as ToSql<SqlUuid, Pg>>::to_sql(&self.0, out)
            }
        }

        impl FromSql<SqlUuid, Pg> for $name {
            fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
                <Uuid as FromSql<SqlUuid, Pg>>::from_sql(bytes).map($name)
            }
        }
    };
}

uuid_id!(
    /// A person (`users.user_id`).
    UserId
);
uuid_id!(
    /// A chat, direct or group (`chats.chat_id`).
    ChatId
);
uuid_id!(
    /// A message (`messages.message_id`).
    MessageId
);
uuid_id!(
    /// A friend request (`friend_requests.request_id`).
    RequestId
);
uuid_id!(
    /// A file sent with a message (`attachments.attachment_id`).
    AttachmentId
);

/// A message's position in its chat: gap-free from 1 in commit order; 0 is "before the
/// first message" (a read marker or a cursor that has seen nothing). Never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = BigInt)]
pub struct Seq(i64);

impl Seq {
    pub const ZERO: Seq = Seq(0);
    /// Past every message: "the latest page".
    pub const END: Seq = Seq(i64::MAX);

    /// A position from a number a client sent; a negative one is none.
    pub fn new(n: i64) -> Option<Seq> {
        (n >= 0).then_some(Seq(n))
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// The position after this one.
    pub fn next(self) -> Seq {
        Seq(self.0.saturating_add(1))
    }

    /// How many positions lie after `earlier` up to here (0 when not after it).
    pub fn since(self, earlier: Seq) -> i64 {
        (self.0 - earlier.0).max(0)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A cursor in a URL or form: a whole number of at least 0 (anything else does not
/// parse, and the request is refused as malformed).
impl<'de> serde::Deserialize<'de> for Seq {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        Seq::new(n).ok_or_else(|| serde::de::Error::custom("a position is never negative"))
    }
}

impl ToSql<BigInt, Pg> for Seq {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <i64 as ToSql<BigInt, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<BigInt, Pg> for Seq {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let n = <i64 as FromSql<BigInt, Pg>>::from_sql(bytes)?;
        Seq::new(n).ok_or_else(|| format!("negative seq {n} in the database").into())
    }
}

/// A chat's change counter (`chats.last_rev`, `messages.rev`): every new message and
/// every change to one takes the next, gap-free in commit order (SPEC §7). The event
/// stream's cursor. 0 is "before anything".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = BigInt)]
pub struct Rev(i64);

impl Rev {
    pub const ZERO: Rev = Rev(0);

    /// A rev from a number a client sent; a negative one is none.
    pub fn new(n: i64) -> Option<Rev> {
        (n >= 0).then_some(Rev(n))
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// The rev after this one.
    pub fn next(self) -> Rev {
        Rev(self.0.saturating_add(1))
    }
}

impl fmt::Display for Rev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> serde::Deserialize<'de> for Rev {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        Rev::new(n).ok_or_else(|| serde::de::Error::custom("a rev is never negative"))
    }
}

impl ToSql<BigInt, Pg> for Rev {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <i64 as ToSql<BigInt, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<BigInt, Pg> for Rev {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let n = <i64 as FromSql<BigInt, Pg>>::from_sql(bytes)?;
        Rev::new(n).ok_or_else(|| format!("negative rev {n} in the database").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seq_is_never_negative() {
        assert_eq!(Seq::new(-1), None);
        assert_eq!(Seq::new(0), Some(Seq::ZERO));
        assert!(serde_json::from_str::<Seq>("-3").is_err());
        assert_eq!(serde_json::from_str::<Seq>("72").ok(), Seq::new(72));
    }

    #[test]
    fn positions_count_forward_only() {
        let (a, b) = (Seq(3), Seq(10));
        assert_eq!(b.since(a), 7);
        assert_eq!(a.since(b), 0);
        assert_eq!(Seq::END.next(), Seq::END);
    }

    #[test]
    fn ids_print_and_parse_as_uuids() {
        let id = ChatId::new_v7();
        assert_eq!(id.to_string().parse::<ChatId>().ok(), Some(id));
        assert!("not-a-uuid".parse::<UserId>().is_err());
    }
}
