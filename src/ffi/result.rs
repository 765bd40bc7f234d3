//! The result codes of the C ABI: the enum [`cp_result`], each code's message and the
//! table of all codes, generated from the one list in src/lists/result_codes.rs (as
//! rustls-ffi's `u32_enum_builder!` does for `rustls_result`). build.rs writes the
//! same list into include/callpark.h.

use crate::error::text;

macro_rules! cp_results {
    ($($name:ident = $number:literal => $message:expr,)*) => {
        /// Every result of the C ABI. The numbers never change; new codes get new numbers.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum cp_result {
            $($name = $number,)*
        }

        impl cp_result {
            /// Every code, in the order of the list.
            pub const ALL: &[cp_result] = &[$(cp_result::$name,)*];

            pub fn message(self) -> &'static str {
                match self {
                    $(cp_result::$name => $message,)*
                }
            }

            /// The code numbered `n`, if there is one.
            pub fn from_u32(n: u32) -> Option<cp_result> {
                match n {
                    $($number => Some(cp_result::$name),)*
                    _ => None,
                }
            }
        }
    };
}

include!("../lists/result_codes.rs");
