//! User and group names, resolved through NSS (none without Unix owners).

#[cfg(spectra_unix)]
/// The group name of `gid`, if the system resolves it (NSS included).
pub(crate) fn group_name(gid: u32) -> Option<String> {
    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
}

#[cfg(spectra_unix)]
/// The user name of `uid`, if the system resolves it (NSS included).
pub(crate) fn user_name(uid: u32) -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

#[cfg(not(spectra_unix))]
pub(crate) fn group_name(_gid: u32) -> Option<String> {
    None
}

#[cfg(not(spectra_unix))]
pub(crate) fn user_name(_uid: u32) -> Option<String> {
    None
}
