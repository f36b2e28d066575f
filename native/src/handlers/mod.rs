//! Built-in handlers: [`Echo`] and [`Chat`].

mod chat;
mod echo;

pub use chat::{Chat, MAX_NAME_CHARS};
pub use echo::Echo;
