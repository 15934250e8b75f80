//! `uniffi-bindgen generate --library libspectra_uniffi.so --language python|kotlin|swift`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
