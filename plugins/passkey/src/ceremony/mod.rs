//! The registration and login ceremonies.

mod account;
mod login;
mod register;
mod state;

pub(crate) use self::account::CredentialView;

#[cfg(test)]
mod tests;
