//! Built-in handlers: [`Echo`] and [`Chat`].

mod chat;
mod echo;

pub use chat::Chat;
pub use echo::Echo;
