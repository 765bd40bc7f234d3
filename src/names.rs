//! The names the library, the C module and the switch share, from the one list
//! `src/lists/names.rs`; the C module has them as `CP_<NAME>` in `callpark.h`.

macro_rules! shared_names {
    ($($name:ident = $value:literal => $doc:literal,)*) => {
        $(
            #[doc = $doc]
            pub const $name: &str = $value;
        )*
        /// Every name with its value, in the list's order.
        pub const ALL: &[(&str, &str)] = &[$((stringify!($name), $value),)*];
    };
}

include!("lists/names.rs");

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique_and_plain() {
        let mut seen = std::collections::HashSet::new();
        for (name, value) in super::ALL {
            assert!(seen.insert(*name), "{name} twice");
            assert!(value.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'), "{name} = {value:?}");
        }
    }
}
