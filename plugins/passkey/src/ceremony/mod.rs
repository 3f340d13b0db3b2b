//! The registration and login ceremonies.

mod login;
mod register;
mod state;

#[cfg(test)]
mod tests;
