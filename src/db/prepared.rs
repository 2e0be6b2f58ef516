//! Raw SQL that PostgreSQL parses and plans once per connection. `diesel::sql_query`
//! marks every query as not cacheable, so each call is an unnamed statement, parsed
//! and planned again: the largest PostgreSQL cost in the load profile (BENCHMARKS.md).
//! `prepared(sql).bind::<T, _>(v)…` takes the same SQL with `$1`…`$n` and the same
//! binds; it emits a placeholder per occurrence (a `$1` used twice is bound twice), so
//! the text is stable and diesel's statement cache keys it by that text. A `$` followed
//! by digits is always a placeholder, even inside a string literal: bind such values.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::{QueryResult, RunQueryDsl};

pub fn prepared<'f>(sql: impl Into<String>) -> Prepared<'f> {
    Prepared { sql: sql.into(), binds: Vec::new() }
}

pub struct Prepared<'f> {
    sql: String,
    binds: Vec<Box<dyn QueryFragment<Pg> + Send + 'f>>,
}

struct Bind<ST, V> {
    value: V,
    sql_type: PhantomData<ST>,
}

impl<ST, V> QueryFragment<Pg> for Bind<ST, V>
where
    Pg: HasSqlType<ST>,
    V: ToSql<ST, Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param::<ST, V>(&self.value)
    }
}

impl<'f> Prepared<'f> {
    /// Binds the next parameter (`$1` first).
    pub fn bind<ST, V>(mut self, value: V) -> Self
    where
        Pg: HasSqlType<ST>,
        V: ToSql<ST, Pg> + Send + 'f,
        ST: Send + 'f,
    {
        self.binds.push(Box::new(Bind { value, sql_type: PhantomData::<ST> }));
        self
    }
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let mut rest = self.sql.as_str();
        while let Some(at) = rest.find('$') {
            let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                out.push_sql(&rest[..=at]);
                rest = &rest[at + 1..];
                continue;
            }
            out.push_sql(&rest[..at]);
            let n: usize = rest[at + 1..at + 1 + digits].parse().unwrap_or(0);
            let bind = n
                .checked_sub(1)
                .and_then(|i| self.binds.get(i))
                .ok_or_else(|| diesel::result::Error::QueryBuilderError(format!("${n} has no bound value").into()))?;
            bind.walk_ast(out.reborrow())?;
            rest = &rest[at + 1 + digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for Prepared<'_> {}

#[cfg(test)]
mod tests {
    use diesel::pg::Pg;
    use diesel::sql_types::{Integer, Text};

    use super::prepared;

    #[test]
    fn each_placeholder_gets_its_value_and_repeats_are_bound_again() {
        let q = prepared("SELECT $1, $2, $1 WHERE '$x' <> ''").bind::<Integer, _>(7).bind::<Text, _>("a");
        let shown = diesel::debug_query::<Pg, _>(&q).to_string();
        assert_eq!(shown, r#"SELECT $1, $2, $3 WHERE '$x' <> '' -- binds: [7, "a", 7]"#);
    }
}
