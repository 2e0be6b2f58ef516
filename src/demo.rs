//! `chaat demo`: the sample people of the design notes. Safe to run twice.

use diesel::{Connection, PgConnection};
use uuid::Uuid;

use crate::auth::password;
use crate::domain::{Greeting, Password, Username};
use crate::models::friend_requests::{self, Sent};
use crate::models::users::{self, NewUser};

pub const PEOPLE: [&str; 4] = ["shahn", "shivam", "udit", "atharva"];

/// The friendships of the design notes (the first asked, the second accepted).
pub const FRIENDSHIPS: [(&str, &str); 3] = [("shahn", "shivam"), ("shahn", "udit"), ("shivam", "udit")];

pub fn create(database_url: &str, password_text: &str) -> anyhow::Result<()> {
    let password = Password::parse(password_text.to_string()).map_err(|e| anyhow::anyhow!("--password: {e}"))?;
    let mut conn = PgConnection::establish(database_url)?;
    for name in PEOPLE {
        let username = Username::parse(name).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        if users::find_by_username(&mut conn, &username)?.is_some() {
            println!("{name}: already there");
            continue;
        }
        let salt = password::new_salt();
        let pwd_hash = password::hash(&password, &salt)?;
        NewUser { user_id: Uuid::now_v7(), username: username.as_str(), dynamic_salt: &salt, pwd_hash: &pwd_hash }
            .insert(&mut conn)?;
        println!("{name}: created");
    }
    befriend(&mut conn)
}

/// Makes the demo friendships the way people would (a request, then its acceptance) and
/// leaves atharva's request to shahn pending. A step that is already done is refused by
/// the same rules as in the app, so running this again changes nothing.
pub fn befriend(conn: &mut PgConnection) -> anyhow::Result<()> {
    let id = |conn: &mut PgConnection, name: &str| -> anyhow::Result<(Uuid, Username)> {
        let name = Username::parse(name).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let user = users::find_by_username(conn, &name)?.ok_or_else(|| anyhow::anyhow!("{name} is missing"))?;
        Ok((user.user_id, name))
    };
    let no_greeting = Greeting::parse("").map_err(|e| anyhow::anyhow!("{e}"))?;
    for (a, b) in FRIENDSHIPS {
        let ((a_id, _), (b_id, b_name)) = (id(conn, a)?, id(conn, b)?);
        match friend_requests::send(conn, a_id, &b_name, &no_greeting)? {
            Ok(Sent::Requested { request_id }) => {
                friend_requests::accept(conn, request_id, b_id)?.map_err(|e| anyhow::anyhow!("{a}–{b}: {e}"))?;
                println!("{a}–{b}: friends");
            }
            Ok(Sent::AcceptedTheirs { .. }) => println!("{a}–{b}: friends"),
            Err(why) => println!("{a}–{b}: {why}"),
        }
    }
    let ((atharva, _), (_, shahn)) = (id(conn, "atharva")?, id(conn, "shahn")?);
    let hi = Greeting::parse("hi").map_err(|e| anyhow::anyhow!("{e}"))?;
    match friend_requests::send(conn, atharva, &shahn, &hi)? {
        Ok(_) => println!("atharva → shahn: friend request sent"),
        Err(why) => println!("atharva → shahn: {why}"),
    }
    Ok(())
}
