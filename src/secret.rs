//! A secret value of a journey (`secrets:`), at the bottom of the crate: the model holds them and compiled
//! templates render them, so neither has to import the other for it.

/// A secret value. `Debug` never prints it.
#[derive(Clone)]
pub struct Secret {
    pub name: String,
    pub value: String,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}: ***)", self.name)
    }
}
