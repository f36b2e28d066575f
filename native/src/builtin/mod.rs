//! The handlers that ship with the server: [`Echo`] and [`Chat`].

mod chat;
mod echo;

pub use chat::{Chat, MAX_LEFT_PER_NOTICE, MAX_NAME_CHARS};
pub use echo::Echo;
