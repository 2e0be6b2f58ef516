//! `chaat demo`: the sample people of the design notes. Safe to run twice.

use diesel::{Connection, PgConnection};
use uuid::Uuid;

use crate::auth::password;
use crate::domain::{Password, Username};
use crate::models::users::{self, NewUser};

pub const PEOPLE: [&str; 4] = ["shahn", "shivam", "udit", "atharva"];

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
    Ok(())
}
