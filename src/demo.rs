//! `chaat demo`: the sample people of the design notes. Safe to run twice.

use diesel::{Connection, PgConnection};

use crate::auth::password;
use crate::domain::{Greeting, Password, Username};
use crate::models::friend_requests::{self, Sent};
use crate::models::users::{self, NewUser};
use crate::models::{ChatId, Seq, UserId};

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
        NewUser { user_id: UserId::new_v7(), username: username.as_str(), dynamic_salt: &salt, pwd_hash: &pwd_hash }.insert(&mut conn)?;
        println!("{name}: created");
    }
    befriend(&mut conn)?;
    create_direct_chats(&mut conn)?;
    create_group(&mut conn)?;
    Ok(())
}

/// Makes the demo friendships the way people would (a request, then its acceptance) and
/// leaves atharva's request to shahn pending. A step that is already done is refused by
/// the same rules as in the app, so running this again changes nothing.
pub fn befriend(conn: &mut PgConnection) -> anyhow::Result<()> {
    let id = |conn: &mut PgConnection, name: &str| -> anyhow::Result<(UserId, Username)> {
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

/// The design notes' group "group-1": shahn (owner), shivam and udit. It needs their
/// friendships; without them it is skipped with a line saying why. Safe to run twice.
pub fn create_group(conn: &mut PgConnection) -> anyhow::Result<()> {
    use crate::domain::GroupName;
    use crate::models::groups::{self, Actor, Created};
    const GROUP: &str = "group-1";
    let owner = Username::parse("shahn").map_err(|e| anyhow::anyhow!("shahn: {e}"))?;
    let owner = users::find_by_username(conn, &owner)?.ok_or_else(|| anyhow::anyhow!("shahn is missing"))?;
    if groups::find_named(conn, owner.user_id, GROUP)?.is_some() {
        println!("{GROUP}: already there");
        return Ok(());
    }
    let name = GroupName::parse(GROUP).map_err(|e| anyhow::anyhow!("{GROUP}: {e}"))?;
    let actor = Actor { user_id: owner.user_id, username: &owner.username };
    match groups::create(conn, actor, &name, &["shivam".to_string(), "udit".to_string()])? {
        Created::Group(_) => println!("{GROUP}: created"),
        Created::NotFriends(names) => println!("{GROUP}: skipped, shahn is not friends with {} yet", names.join(", ")),
    }
    Ok(())
}

/// The direct chats of the design notes (udit/shahn and shivam/shahn) and shivam's
/// "helloo" to shahn ("Shivam sends a 1-1 message to Shahn"). Needs the friendships.
pub fn create_direct_chats(conn: &mut PgConnection) -> anyhow::Result<()> {
    use crate::models::chats;
    use crate::models::messages::{self, MessageKind, NewMessage, SendOutcome};
    let user = |conn: &mut PgConnection, name: &str| -> anyhow::Result<(UserId, Username)> {
        let username = Username::parse(name).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let user_id = users::find_by_username(conn, &username)?.ok_or_else(|| anyhow::anyhow!("{name} is missing"))?.user_id;
        Ok((user_id, username))
    };
    let ((_, shahn), (shivam, _), (udit, _)) = (user(conn, "shahn")?, user(conn, "shivam")?, user(conn, "udit")?);
    let open = |conn: &mut PgConnection, me: UserId| -> anyhow::Result<ChatId> {
        chats::open_direct(conn, me, &shahn)?.map_err(|why| anyhow::anyhow!("no direct chat with shahn: {why:?}"))
    };
    open(conn, udit)?;
    let chat_id = open(conn, shivam)?;
    let membership = chats::find_for_participant(conn, shivam, chat_id)?.ok_or_else(|| anyhow::anyhow!("shivam is not in the chat"))?;
    if messages::page_before(conn, &membership, Seq::END, 1)?.is_empty() {
        let sent =
            NewMessage { chat_id, sender: shivam, text: "helloo", client_id: None, kind: MessageKind::Text, reply_to: None }.send(conn)?;
        if !matches!(sent, SendOutcome::Sent(_)) {
            anyhow::bail!("shivam could not message shahn: {sent:?}");
        }
    }
    println!("direct chats: udit/shahn, shivam/shahn (with \"helloo\")");
    Ok(())
}
